// Child of the bench: N stored consultations (synthetic records through the store's ingest),
// then one submission round against a stand-in NRDR that validates each transaction locally and
// answers Posted. Prints {n, ingestS, flushS, transactions, peakRssMb} as JSON.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdsrValidator } from '../src/cdsr/validate.js';
import { loadMappings } from '../src/mapping/load.js';
import { mapHl7Text } from '../src/mapping/map-hl7.js';
import type { PartialRecord } from '../src/mapping/record.js';
import type { NrdrApi } from '../src/outbound/nrdr-client.js';
import { Submitter } from '../src/outbound/submitter.js';
import { openStore } from '../src/store/open.js';
import { PACKAGE_ROOT } from '../src/paths.js';

const n = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'cdsr-backfill-'));
const tables = loadMappings(join(PACKAGE_ROOT, 'mappings')).tables!;
const validator = new CdsrValidator({ now: new Date(), valueSets: tables.valueSets, fieldLimits: tables.fieldLimits });
const store = await openStore({ kind: 'sqlite', file: join(dir, 'db.sqlite'), synchronous: 'NORMAL' }, validator);
const out = mapHl7Text(readFileSync(join(PACKAGE_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8'), tables);
if (out.disposition !== 'mapped') throw new Error('sample does not map');
const template = out.records[0]!;

let t = performance.now();
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
const rssAfterIngestMb = process.resourceUsage().maxRSS / 1024;

let transactions = 0;
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
  postTransaction: (tx) => {
    transactions++;
    if (validator.validateTransaction(tx).some((p) => p.severity === 'error')) throw new Error('invalid transaction built');
    bodies.set(tx.Transaction_ID, { ...tx, Encounters: [] });
    return Promise.resolve(posted(tx));
  },
  getStatus: (id) => Promise.resolve(posted(bodies.get(id)!)),
};
t = performance.now();
const r = await new Submitter({
  store,
  client: api,
  partnerId: '10000',
  appId: '10019',
  maxEncounters: 100,
  clock: () => new Date(),
  pollIntervalMs: 0,
}).flush();
const flushS = (performance.now() - t) / 1000;
await store.close();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ n, ingestS, flushS, transactions, accepted: r.accepted, rssAfterIngestMb, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
