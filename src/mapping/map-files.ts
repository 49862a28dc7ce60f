// Offline mapping of input files (what `cdsr-adapter map` does): each file mapped in order,
// merged by composite key with the store's merge code, batched per facility and validated.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Problem } from '../cdsr/problem.js';
import type { Transaction } from '../cdsr/schema.js';
import { validatorFor } from './validator.js';
import { FhirIntakeError, readIntake, ResourcePool, type Intake } from '../fhir/intake.js';
import { batchTransactions, type BatchItem } from '../cdsr/batch.js';
import type { MappingTables } from './load.js';
import { mapFhirResource, isMappedResource } from './map-fhir.js';
import { mapHl7Text } from './map-hl7.js';
import { encounterKey, MergeState, type EncounterState } from './merge.js';
import { facilityTimeZones } from './facilities.js';
import { orphanProblem, refusal } from './merge-problems.js';
import { consultationWire, sendableConsultations } from './wire.js';
import type { MapOutcome } from './outcome.js';
import type { TraceEntry, TraceMiss } from './record.js';
import { explainMissing } from './explain.js';

export interface MapFilesOptions {
  readonly tables: MappingTables;
  readonly defaultFacilityId?: string;
  readonly partnerId: string;
  readonly appId: string;
  readonly maxEncounters: number;
  readonly now: Date;
  /** The time zone of facilities without one in facilities.csv (default UTC). */
  readonly timeZone?: string;
}

export interface MappedInput {
  readonly input: string;
  readonly source: string;
  readonly disposition: MapOutcome['disposition'];
  readonly trace: readonly TraceEntry[];
  /** The rules that found nothing in this input, with the paths they tried. */
  readonly misses: readonly TraceMiss[];
}

export interface MapFilesResult {
  readonly transactions: Transaction[];
  readonly problems: Problem[];
  readonly inputs: MappedInput[];
}

type Loaded = { name: string; kind: 'hl7'; text: string } | { name: string; kind: 'fhir'; intake: Intake } | { name: string; kind: 'bad'; problem: Problem };

function load(file: string, label: string): Loaded {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { name: label, kind: 'bad', problem: { code: 'FILE_READ', message: (e as Error).message, severity: 'error', scope: 'file', path: '', input: label } };
  }
  // eslint-disable-next-line no-control-regex -- BOM, blanks and an MLLP start byte before the content
  const start = text.replace(/^[\uFEFF\s\x0b]+/, '')[0];
  if (start !== '{') return { name: label, kind: 'hl7', text };
  try {
    return { name: label, kind: 'fhir', intake: readIntake(JSON.parse(text) as unknown) };
  } catch (e) {
    const code = e instanceof FhirIntakeError ? 'FHIR_INVALID' : 'JSON_SYNTAX';
    return { name: label, kind: 'bad', problem: { code, message: (e as Error).message, severity: 'error', scope: 'file', path: '', input: label } };
  }
}

export function mapFiles(files: readonly string[], opts: MapFilesOptions): MapFilesResult {
  const loaded = files.map((f) => load(f, files.filter((g) => basename(g) === basename(f)).length > 1 ? f : basename(f)));
  const pool = new ResourcePool();
  for (const l of loaded) if (l.kind === 'fhir') pool.addIntake(l.intake);

  const state = new MergeState();
  const problems: Problem[] = [];
  const inputs: MappedInput[] = [];
  const take = (input: string, outcome: MapOutcome): void => {
    problems.push(...outcome.problems.map((p) => ({ ...p, input })));
    if (outcome.disposition === 'mapped') {
      for (const r of outcome.records) {
        const res = state.apply(r);
        if (res.status === 'collision' || res.status === 'unkeyed') problems.push({ ...refusal(r, res), input });
        inputs.push({ input, source: `${r.source.type} ${r.source.id}`, disposition: 'mapped', trace: r.trace, misses: r.misses ?? [] });
      }
    } else {
      inputs.push({ input, source: '', disposition: outcome.disposition, trace: [], misses: [] });
    }
  };
  for (const l of loaded) {
    if (l.kind === 'bad') {
      problems.push(l.problem);
      continue;
    }
    if (l.kind === 'hl7') {
      take(l.name, mapHl7Text(l.text, opts.tables, opts));
      continue;
    }
    for (const focus of l.intake.missingFocus) {
      problems.push({
        code: 'MAP_REFERENCE',
        message: `id-only notification: ${focus} must be fetched from the FHIR server (FHIR_SERVER_URL); offline mapping skips it`,
        severity: 'warning',
        scope: 'file',
        path: '',
        input: l.name,
      });
    }
    for (const resource of l.intake.resources) {
      if (isMappedResource(resource, opts.tables)) take(l.name, mapFhirResource(resource, pool, opts.tables, opts));
    }
  }
  for (const orphan of state.pendingOrphans()) {
    const p = orphanProblem(orphan, { status: 'orphan', encounterKey: '', changed: [], reason: orphan.source.role === 'order' ? 'cancel_unmatched' : 'orphan' });
    problems.push(p.code === 'MERGE_ORPHAN' ? { ...p, message: `${p.message} (no consultation date and time yet)` } : p);
  }
  const transactions = batchTransactions(mergedItems(state.encounters.values()), {
    partnerId: opts.partnerId,
    appId: opts.appId,
    maxEncounters: opts.maxEncounters,
    now: opts.now,
    timeZoneOf: facilityTimeZones(opts.tables.facilities, opts.timeZone ?? 'UTC'),
    transactionId: (facility, n) => `map-${facility}-${n + 1}`,
  }).map((b) => b.body);
  // "future" is read on the clock Transaction_DateTime was written with
  const validator = validatorFor(opts.tables, { now: opts.now, timeZone: opts.timeZone ?? 'UTC' });
  transactions.forEach((tx, i) => {
    for (const p of explainMissing(validator.validateTransaction(tx), opts.tables)) problems.push({ ...p, path: `transactions[${i}]${p.path === '' ? '' : '.'}${p.path}` });
  });
  return { transactions, problems, inputs };
}

/** Every consultation to send of the merged encounters, as the batcher takes them. */
export function mergedItems(encounters: Iterable<EncounterState>): BatchItem<string>[] {
  return [...encounters].flatMap((enc) =>
    sendableConsultations(enc).map(({ consultationKey, cons }) => ({
      facilityId: enc.facilityId,
      ...(enc.partnerId !== undefined ? { partnerId: enc.partnerId } : {}),
      encounterKey: encounterKey(enc.facilityId, enc.encounterId),
      wire: consultationWire(enc, cons),
      record: consultationKey,
    })),
  );
}
