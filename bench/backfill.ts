// Child of the bench: a backfill. N synthetic consultations (three to an encounter) stored
// through the store's ingest in one process, then one submission round in a fresh process, as
// `serve` runs it (the Submitter with serve's batch size, paging through the ready records)
// against a stand-in NRDR that validates each transaction locally and answers Posted. The round's
// process starts on the stored backlog, so its peak RSS is the round's own, not the ingest's; it
// gives V8 the heap growing factor `serve` gives it (CDSR_HEAP_GROWTH_PERCENT).
// Usage: backfill.js N (both steps in a temporary directory; prints the JSON of both),
//        backfill.js store FILE N, backfill.js round FILE [PAGE].
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CdsrValidator } from '../src/cdsr/validate.js';
import { loadMappings } from '../src/mapping/load.js';
import { mapHl7Text } from '../src/mapping/map-hl7.js';
import type { PartialRecord } from '../src/mapping/record.js';
import type { NrdrApi } from '../src/outbound/nrdr-client.js';
import { Submitter } from '../src/outbound/submitter.js';
import { openStore } from '../src/store/open.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { loadConfig } from '../src/config.js';
import { boundHeapGrowth } from '../src/server/heap-growth.js';

const tables = loadMappings(join(PACKAGE_ROOT, 'mappings')).tables!;
const validator = new CdsrValidator({ now: new Date(), valueSets: tables.valueSets, fieldLimits: tables.fieldLimits });

/** This process's peak RSS so far (VmHWM), MB. */
function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

async function storeBacklog(file: string, n: number): Promise<object> {
  const store = await openStore({ kind: 'sqlite', file, synchronous: 'NORMAL' }, validator);
  const out = mapHl7Text(readFileSync(join(PACKAGE_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8'), tables);
  if (out.disposition !== 'mapped') throw new Error('sample does not map');
  const template = out.records[0]!;
  const t = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const minute = String(i % 60).padStart(2, '0');
    const hour = String(Math.floor(i / 60) % 24).padStart(2, '0');
    const record: PartialRecord = {
      ...template,
      source: { ...template.source, id: `B${i}` },
      encounterId: `BV${Math.floor(i / 3)}`,
      orderKey: `BORD${i}`,
      orderNumbers: [`BORD${i}`, `BACC${i}`],
      consultationTime: `${hour}:${minute}:00`,
      consultationFields: { ...template.consultationFields, CDS_Consultation_Time: `${hour}:${minute}:00` },
    };
    pending.push(
      store.ingest(
        { channel: 'hl7v2', sender: 'bench', controlId: `B${i}`, contentType: 'x', raw: 'x', receivedAt: new Date() },
        { disposition: 'mapped', records: [record], problems: [] },
      ),
    );
    if (pending.length >= 2000) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  const ingestS = (performance.now() - t) / 1000;
  await store.close();
  return { n, ingestS, ingestPeakRssMb: peakRssMb() };
}

async function round(file: string, page?: number): Promise<object> {
  // serve's own settings (batch size, the heap's growing factor) from the environment, as `serve` reads and applies them
  const config = loadConfig({ ...process.env, CDSR_DATA_DIR: tmpdir() });
  const heapGrowth = boundHeapGrowth(config.CDSR_HEAP_GROWTH_PERCENT);
  const store = await openStore({ kind: 'sqlite', file, synchronous: 'NORMAL' }, validator);
  let transactions = 0;
  let consultations = 0;
  let encountersSplit = 0;
  const seen = new Set<string>();
  const posted = (tx: { Transaction_ID: string; Facility_ID: string; PartnerID: string; AppID: string; Encounters: { Consultations: unknown[] }[] }) => ({
    ok: true as const,
    status: {
      Transaction_ID: tx.Transaction_ID,
      Transaction_DateTime: '2026-11-23T00:00:00',
      Num_of_Exam_Included: tx.Encounters.reduce((k, e) => k + e.Consultations.length, 0),
      Num_of_Exam_In_Error: 0,
      PartnerID: tx.PartnerID,
      AppID: tx.AppID,
      Facility_ID: tx.Facility_ID,
      Status: 'Posted' as const,
      Error_Msg: '',
      Exam_Errors: [],
    },
    raw: '',
  });
  const bodies = new Map<string, Parameters<typeof posted>[0]>();
  const api: NrdrApi = {
    postTransaction: async (tx, claim) => {
      if (claim && !(await claim())) return { ok: false, permanent: false, code: 'not_claimed', message: 'not claimed' };
      transactions++;
      if (validator.validateTransaction(tx).some((p) => p.severity === 'error')) throw new Error('invalid transaction built');
      for (const e of tx.Encounters) {
        consultations += e.Consultations.length;
        // an encounter in two transactions: its consultations were split
        if (seen.has(e.Unique_Encounter_ID)) encountersSplit++;
        seen.add(e.Unique_Encounter_ID);
      }
      // what a status answer needs: the counts, not the encounters
      bodies.set(tx.Transaction_ID, { ...tx, Encounters: tx.Encounters.map((e) => ({ Consultations: e.Consultations.map(() => 0) })) });
      return posted(tx);
    },
    getStatus: (id) => Promise.resolve(posted(bodies.get(id)!)),
  };
  const rssBeforeMb = process.memoryUsage().rss / 1024 / 1024;
  const t = performance.now();
  const r = await new Submitter({
    store,
    client: api,
    partnerId: '10000',
    appId: '10019',
    maxEncounters: config.CDSR_BATCH_MAX_ENCOUNTERS,
    clock: () => new Date(),
    pollIntervalMs: 0,
    ...(page !== undefined ? { pageSize: page } : {}),
  }).flush();
  const flushS = (performance.now() - t) / 1000;
  await store.close();
  return { flushS, transactions, consultations, encountersSplit, accepted: r.accepted, rssBeforeMb, peakRssMb: peakRssMb(), heapGrowth };
}

const [a = '100000', b = '', c] = process.argv.slice(2);
if (a === 'store') console.log(JSON.stringify(await storeBacklog(b, Number(c ?? 100_000))));
else if (a === 'round') console.log(JSON.stringify(await round(b, c === undefined ? undefined : Number(c))));
else {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-backfill-'));
  try {
    const self = fileURLToPath(import.meta.url);
    const step = (args: string[]): object => {
      const r = spawnSync(process.execPath, [self, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (r.status !== 0) throw new Error(`backfill ${args[0]} failed: ${r.stderr.split('\n').find((l) => l.includes('Error')) ?? r.status}`);
      return JSON.parse(r.stdout) as object;
    };
    const stored = step(['store', join(dir, 'db.sqlite'), a]);
    console.log(JSON.stringify({ ...stored, ...step(['round', join(dir, 'db.sqlite')]) }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
