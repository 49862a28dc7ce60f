// What the store keeps per connection profile: one profile's credentials are invisible to another;
// what was kept under the bare names before profiles becomes the legacy profile's, once; the
// de-identification key is made once and then read back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CdsrValidator } from '../cdsr/validate.js';
import { migratedMemoryStore } from '../../test/sqlite-template.js';
import { adoptUnprofiled, DEID_KEY_CREDENTIAL, deidentificationKey, profileCredentials } from './profile-store.js';

const NOW = new Date('2026-11-23T06:00:00Z');
const store = () => migratedMemoryStore(new CdsrValidator({ now: NOW }));

describe('the store per connection profile', () => {
  it("one profile's credentials are not another's", async () => {
    const s = await store();
    const test = profileCredentials(s, 'test');
    const production = profileCredentials(s, 'production');
    assert.equal(await test.putCredential('acr-signin', { sealed: 'v1.test', meta: { subject: 'TESTFAC1_op' } }, 0, NOW), 1);
    assert.equal(await production.credential('acr-signin'), undefined);
    assert.deepEqual([(await test.credential('acr-signin'))?.name, (await test.credential('acr-signin'))?.sealed], ['acr-signin', 'v1.test']);
    assert.equal((await s.credential('test:acr-signin'))?.sealed, 'v1.test');
    await production.deleteCredential('acr-signin');
    assert.equal((await test.credential('acr-signin'))?.sealed, 'v1.test');
    await s.close();
  });

  it('what was kept under the bare names becomes the legacy profile’s, once, and says so', async () => {
    const s = await store();
    await s.putCredential('acr-signin', { sealed: 'v1.old', meta: { subject: '100000_op' } }, 0, NOW);
    await s.putCredential('acr-refresh-token', { sealed: 'v1.rt', meta: { origin: 'x' } }, 0, NOW);
    const said: object[] = [];
    const log = { info: (o: object) => void said.push(o), warn: (o: object) => void said.push(o) };
    await adoptUnprofiled(s, 'production', NOW, log);
    assert.deepEqual([await s.credential('acr-signin'), await s.credential('acr-refresh-token')], [undefined, undefined]);
    const moved = profileCredentials(s, 'production');
    assert.deepEqual([(await moved.credential('acr-signin'))?.sealed, (await moved.credential('acr-refresh-token'))?.sealed], ['v1.old', 'v1.rt']);
    assert.deepEqual(said, [{ event: 'profile_adopted', profile: 'production', transactions: 0, credentials: ['acr-signin', 'acr-refresh-token'] }]);
    await adoptUnprofiled(s, 'production', NOW, log);
    assert.equal(said.length, 1);
    await s.close();
  });

  it('once CDSR_PROFILE is set, the sign-in and refresh token kept under the bare names are forgotten, with a warning (no environment can be told)', async () => {
    const s = await store();
    await s.putCredential('acr-signin', { sealed: 'v1.old', meta: { subject: '100000_op' } }, 0, NOW);
    await s.putCredential('acr-refresh-token', { sealed: 'v1.rt', meta: { origin: 'x' } }, 0, NOW);
    const said: object[] = [];
    const log = { info: (o: object) => void said.push(o), warn: (o: object) => void said.push(o) };
    await adoptUnprofiled(s, 'production', NOW, log, { profilesConfigured: true, testFacilityId: '999001' });
    assert.deepEqual(await Promise.all(['acr-signin', 'acr-refresh-token', 'production:acr-signin', 'test:acr-signin'].map((n) => s.credential(n))), [
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    assert.deepEqual(said, [{ event: 'profile_credentials_dropped', credentials: ['acr-signin', 'acr-refresh-token'] }]);
    await s.close();
  });

  it('the de-identification key: made once (32 bytes), then the same', async () => {
    const s = await store();
    const a = await deidentificationKey(s, NOW);
    const b = await deidentificationKey(s, NOW);
    assert.equal(a.length, 32);
    assert.deepEqual(b, a);
    assert.equal((await s.credential(DEID_KEY_CREDENTIAL))?.meta.purpose, 'de-identification (HMAC-SHA256)');
    await s.close();
  });
});
