// /metrics shows the transactions without NRDR's final word and the age of the oldest: a
// transaction stored 90 s before the server's clock and not yet answered, then final.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postHl7, SERVER_NOW, withTestServer } from '../../test/server.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, transactionFor } from '../../test/helpers.js';
import { loadConfig } from '../config.js';
import { activeProfile, profileSummary } from '../profile.js';

const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
const gauges = (text: string) => text.split('\n').filter((l) => /^cdsr_(transactions_in_flight|oldest_in_flight_age_seconds) /.test(l));

describe('/metrics: transactions in flight', () => {
  it("counts them and gives the oldest one's age; 0 and 0 once NRDR answered", async () => {
    await withTestServer(async (s) => {
      assert.deepEqual(gauges(await (await s.fetch('/metrics')).text()), ['cdsr_transactions_in_flight 0', 'cdsr_oldest_in_flight_age_seconds 0']);
      await postHl7(s, ORM);
      const [ready] = await s.store.wireEncounters('ready', 10);
      assert.ok(ready);
      const body = transactionFor('T-M', [ready.wire], '11/23/2026 05:58:30');
      assert.equal((await s.store.createTransaction(body, [ready], new Date(SERVER_NOW.getTime() - 90_000))).created, true);
      assert.deepEqual(gauges(await (await s.fetch('/metrics')).text()), ['cdsr_transactions_in_flight 1', 'cdsr_oldest_in_flight_age_seconds 90']);
      await s.store.updateTransaction('T-M', { status: 'sent' }, SERVER_NOW);
      await s.store.updateTransaction('T-M', { status: 'done' }, SERVER_NOW);
      assert.deepEqual(gauges(await (await s.fetch('/metrics')).text()), ['cdsr_transactions_in_flight 0', 'cdsr_oldest_in_flight_age_seconds 0']);
    });
  });

  it("are the profile in force's: another profile's open transaction (never asked about under this one) is not counted", async () => {
    const production = profileSummary(
      activeProfile(loadConfig({ NRDR_BASE_URL: 'https://nrdr.example/x', NRDR_PARTNER_ID: '1', NRDR_APP_ID: '2', ACR_TOKEN: 't' })),
    );
    await withTestServer(
      async (s) => {
        await postHl7(s, ORM);
        const [ready] = await s.store.wireEncounters('ready', 10);
        assert.ok(ready);
        const at = new Date(SERVER_NOW.getTime() - 90_000);
        assert.equal(
          (await s.store.createTransaction(transactionFor('T-TEST', [ready.wire], '11/23/2026 05:58:30'), [ready], at, undefined, { profile: 'test' })).created,
          true,
        );
        assert.deepEqual(gauges(await (await s.fetch('/metrics')).text()), ['cdsr_transactions_in_flight 0', 'cdsr_oldest_in_flight_age_seconds 0']);
      },
      { profile: production },
    );
  });
});
