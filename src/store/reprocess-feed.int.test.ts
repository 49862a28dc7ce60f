// A generated feed of 10,200 stored messages: reprocessing everything with the tables unchanged
// finds no change (preview) and changes nothing (applied). The feed is the ten shipped samples
// renumbered 1,000 times (each copy its own encounter, orders, accessions and control ids), each
// copy in its own shuffled order (results before orders, cancels before what they cancel), and
// the public FHIR-Converter messages 50 times each (mapped, errors and a type the tables ignore).
// Its size follows the property tests' depth (test/runs.ts): `npm test` stores a quarter of the
// copies (250 and the public messages 12 times: 2,548 messages, still every kind of message, unit
// and outcome, and hundreds of units re-derived in many batches), CI (CDSR_PROPERTY_RUNS=full) all
// 1,000 (10,200 messages). The copies differ only in their numbers: what the smaller feed leaves
// out is volume, which the benchmark's reprocessing rows measure. It was a quarter of the
// process-level tests' CPU time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMappings } from '../mapping/load.js';
import { mapHl7Text } from '../mapping/map-hl7.js';
import { LiveValidator } from '../mapping/validator.js';
import { runReprocess, startReprocess } from '../inbound/reprocess.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { runs } from '../../test/runs.js';
import { openStore } from './open.js';
import { SqliteExecutor } from './sqlite-executor.js';

const NOW = new Date('2026-11-23T06:00:00Z');
const SAMPLES = [
  '01-orm-new',
  '02-orm-update',
  '03-orm-cancel',
  '04-oru-final',
  '05-omi-new',
  '06-orm-lf-escapes',
  '07-orm-two-orders',
  '08-oru-two-results-no-orc',
  '09-orm-xr-excluded',
  '10-orm-cpt-in-obr44',
];
const PUBLIC = ['ORM-O01-01', 'ORM-O01-02', 'ORU-R01-01', 'ADT-A01-01'];
const COPIES = runs(1000);
const PUBLIC_EVERY = 20;
/** The feed's length: the samples of every copy and the public messages after every 20th. */
const MESSAGES = COPIES * SAMPLES.length + Math.floor(COPIES / PUBLIC_EVERY) * PUBLIC.length;

function feed(): { raw: string; controlId: string }[] {
  const samples = SAMPLES.map((s) => readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', `${s}.hl7`), 'utf8'));
  const publics = PUBLIC.map((p) => readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'public', `fhir-converter-${p}.hl7`), 'utf8'));
  let seed = 19;
  const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648);
  const out: { raw: string; controlId: string }[] = [];
  for (let k = 1; k <= COPIES; k++) {
    const copy = samples.map((text, i) => ({
      raw: text
        .replace(/ORD1(\d{3})/g, `ORD${k}-$1`)
        .replace(/ACC2(\d{3})/g, `ACC${k}-$1`)
        .replace(/V0001/g, `V${k}`)
        .replace(/MSG0(\d{3})/g, `G${k}-$1`),
      controlId: `G${k}-${String(i + 1).padStart(3, '0')}`,
    }));
    for (let i = copy.length - 1; i > 0; i--) {
      const j = next() % (i + 1);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    out.push(...copy);
    if (k % PUBLIC_EVERY === 0) publics.forEach((raw, i) => out.push({ raw, controlId: `PUB${k}-${i}` }));
  }
  return out;
}

describe('reprocessing a generated feed with the tables unchanged', () => {
  it(`${MESSAGES.toLocaleString('en-US')} messages: the preview finds no change and applying it changes nothing`, { timeout: 600_000 }, async () => {
    const tables = loadMappings(join(REPO_ROOT, 'mappings')).tables!;
    const dir = mkdtempSync(join(tmpdir(), 'cdsr-feed-'));
    const file = join(dir, 'db.sqlite');
    const store = await openStore({ kind: 'sqlite', file, synchronous: 'NORMAL' }, new LiveValidator(() => tables, { now: NOW }));
    const reader = new SqliteExecutor({ file });
    try {
      const messages = feed();
      assert.equal(messages.length, MESSAGES);
      // stored in the feed's order, as a sender's queue would: each ingest enters the store's
      // lane when called, so 50 asked at once keep their order and share their commits
      let window: Promise<unknown>[] = [];
      for (const [i, m] of messages.entries()) {
        window.push(
          store.ingest(
            {
              channel: 'hl7v2',
              sender: 'EHR^GENHOSP',
              controlId: m.controlId,
              contentType: 'application/hl7-v2',
              raw: m.raw,
              receivedAt: new Date(NOW.getTime() + i * 1000),
            },
            mapHl7Text(m.raw, tables),
          ),
        );
        if (window.length === 50) {
          await Promise.all(window);
          window = [];
        }
      }
      await Promise.all(window);
      // a read through the store first: on SQLite it writes the last messages' derived rows before
      // it answers, and `reader` reads the file beside it
      await store.messages({ limit: 1 });
      // in that order: ids follow the feed
      const order = await reader.all('SELECT control_id FROM inbound_messages ORDER BY id');
      assert.deepEqual(
        order.map((r) => r['control_id']),
        messages.map((m) => m.controlId),
      );
      const snapshot = async () => ({
        consultations: await reader.all(
          'SELECT encounter_key, consultation_key, fields, state, missing, problems, content_hash, retired FROM consultations ORDER BY encounter_key, consultation_key',
        ),
        orders: await reader.all('SELECT o.id, o.encounter_key, o.consultation_key, o.hold, o.detail, o.first_seen, o.last_seen FROM orders o ORDER BY o.id'),
        numbers: await reader.all('SELECT facility_id, number, order_id FROM order_numbers ORDER BY facility_id, number'),
        links: await reader.all('SELECT order_id, message_id FROM order_messages ORDER BY order_id, message_id'),
        messages: await reader.all('SELECT id, status, problems FROM inbound_messages ORDER BY id'),
        index: await reader.all('SELECT order_key, encounter_key, consultation_key FROM order_index ORDER BY order_key'),
        orphans: await reader.all('SELECT order_key, seq, source_id FROM orphans ORDER BY order_key, seq, source_id'),
      });
      const before = await snapshot();
      // the feed reaches every kind of outcome the fold must keep
      const statuses = new Set(before.messages.map((m) => String(m['status'])));
      assert.deepEqual([...statuses].sort(), ['applied', 'error', 'ignored']);
      const states = new Set(before.consultations.map((c) => String(c['state'])));
      assert.ok(states.has('ready') && states.has('cancelled'), [...states].join(', '));

      const deps = { store, mappings: { current: tables }, clock: () => NOW };
      const preview = await runReprocess(deps, (await startReprocess(deps, { all: true }, { apply: false, who: 'test' })).id);
      assert.deepEqual(
        [preview.status, preview.done, preview.summary.byChange, preview.summary.messages, preview.summary.skipped],
        ['done', preview.total, {}, {}, []],
      );
      assert.ok(preview.total >= COPIES, String(preview.total));
      assert.deepEqual(await snapshot(), before);
      const applied = await runReprocess(deps, (await startReprocess(deps, { all: true }, { apply: true, who: 'test' })).id);
      assert.deepEqual([applied.status, applied.summary.byChange, applied.summary.messages, applied.summary.skipped], ['done', {}, {}, []]);
      assert.deepEqual(await snapshot(), before);
    } finally {
      await reader.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
