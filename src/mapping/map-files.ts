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
import { mapFhirResource, isMappedResource, orderPlaces } from './map-fhir.js';
import { mapHl7Text } from './map-hl7.js';
import { encounterKey, MergeState, type EncounterState } from './merge.js';
import { facilityTimeZones } from './facilities.js';
import { keyHeldProblem, orphanProblem, refusal } from './merge-problems.js';
import { consultationWire, sendableConsultations } from './wire.js';
import type { MapOutcome } from './outcome.js';
import type { TraceEntry, TraceMiss } from './record.js';
import { explainMissing } from './explain.js';
import { splitMessages } from './split.js';

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
  /** Each message of the inputs (a file of several has several), in order. */
  readonly messages: MessageEntry[];
}

type Loaded =
  { name: string; kind: 'hl7'; text: string } | { name: string; kind: 'fhir'; intake: Intake; type: string } | { name: string; kind: 'bad'; problem: Problem };

/** One entry per message of the run: where it came from, its type, what became of it. */
export interface MessageEntry {
  readonly input: string;
  /** MSH-9 (`ORM^O01`) or the FHIR resource type (`Bundle`); `?` when unreadable. */
  readonly type: string;
  /** mapped, error, unsupported, invalid (as the service would store it); unreadable (not JSON / no message);
   * pending (an id-only notification: the service would fetch it); context (resources only referred to, e.g. a Patient). */
  readonly outcome: MapOutcome['disposition'] | 'unreadable' | 'pending' | 'context';
}

const fileProblem = (code: Problem['code'], message: string, input: string, line?: number): Problem => ({
  code,
  message,
  severity: 'error',
  scope: 'file',
  path: '',
  input,
  ...(line !== undefined ? { file: input, line } : {}),
});

/** A file's messages; a file of several names each by its place: `batch.hl7#3 (line 12)`. */
function load(file: string, label: string): { messages: Loaded[]; problems: Problem[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { messages: [{ name: label, kind: 'bad', problem: fileProblem('FILE_READ', (e as Error).message, label) }], problems: [] };
  }
  const split = splitMessages(text);
  const many = split.messages.length > 1 || split.container === 'hl7-batch' || split.container === 'mirth-xml' || split.container === 'ndjson';
  const messages = split.messages.map((m): Loaded => {
    const name = many ? `${label}#${m.index} (line ${m.line})` : label;
    if (m.kind === 'hl7') return { name, kind: 'hl7', text: m.text };
    try {
      const json = JSON.parse(m.text) as unknown;
      const type =
        typeof json === 'object' && json !== null && typeof (json as { resourceType?: unknown }).resourceType === 'string'
          ? (json as { resourceType: string }).resourceType
          : '?';
      return { name, kind: 'fhir', intake: readIntake(json), type };
    } catch (e) {
      const code = e instanceof FhirIntakeError ? 'FHIR_INVALID' : 'JSON_SYNTAX';
      return { name, kind: 'bad', problem: fileProblem(code, (e as Error).message, name) };
    }
  });
  if (split.messages.length === 0 && split.problems.length === 0)
    messages.push({ name: label, kind: 'bad', problem: fileProblem('HL7_INVALID', 'the file holds no message', label) });
  return { messages, problems: split.problems.map((p) => ({ ...p, input: label, file: label })) };
}

/** The worst of a payload's mapped resources; a payload with none is context for the others (or waits for a fetch). */
function fhirOutcome(d: readonly MapOutcome['disposition'][], pending: boolean): MessageEntry['outcome'] {
  for (const worst of ['invalid', 'error', 'unsupported'] as const) if (d.includes(worst)) return worst;
  if (d.length > 0) return 'mapped';
  return pending ? 'pending' : 'context';
}

function er7Type(text: string): string {
  const msh = text.split('\r')[0] ?? '';
  const f = msh.slice(3).split(msh[3] ?? '|');
  const parts = (f[8] ?? '').split(msh[4] ?? '^');
  return parts[0] ? parts.slice(0, 2).join('^') : '?';
}

export function mapFiles(files: readonly string[], opts: MapFilesOptions): MapFilesResult {
  const problems: Problem[] = [];
  const loaded = files.flatMap((f) => {
    const r = load(f, files.filter((g) => basename(g) === basename(f)).length > 1 ? f : basename(f));
    problems.push(...r.problems);
    return r.messages;
  });
  const pool = new ResourcePool();
  for (const l of loaded) if (l.kind === 'fhir') pool.addIntake(l.intake);

  const state = new MergeState();
  const inputs: MappedInput[] = [];
  const messages: MessageEntry[] = [];
  const take = (input: string, outcome: MapOutcome): void => {
    problems.push(...outcome.problems.map((p) => ({ ...p, input })));
    if (outcome.disposition === 'mapped') {
      for (const r of outcome.records) {
        const res = state.apply(r);
        if (res.status === 'collision' || res.status === 'unkeyed') problems.push({ ...refusal(r, res), input });
        const held = keyHeldProblem(r, res);
        if (held) problems.push({ ...held, input });
        inputs.push({ input, source: `${r.source.type} ${r.source.id}`, disposition: 'mapped', trace: r.trace, misses: r.misses ?? [] });
      }
    } else {
      inputs.push({ input, source: '', disposition: outcome.disposition, trace: [], misses: [] });
    }
  };
  for (const l of loaded) {
    if (l.kind === 'bad') {
      problems.push(l.problem);
      messages.push({ input: l.name, type: '?', outcome: 'unreadable' });
      continue;
    }
    if (l.kind === 'hl7') {
      const outcome = mapHl7Text(l.text, opts.tables, opts);
      take(l.name, outcome);
      messages.push({ input: l.name, type: er7Type(l.text), outcome: outcome.disposition });
      continue;
    }
    const dispositions: MapOutcome['disposition'][] = [];
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
    const places = orderPlaces(l.intake.resources, opts.tables);
    for (const resource of l.intake.resources) {
      if (!isMappedResource(resource, opts.tables)) continue;
      const outcome = mapFhirResource(resource, pool, opts.tables, opts, places.get(resource));
      take(l.name, outcome);
      dispositions.push(outcome.disposition);
    }
    messages.push({ input: l.name, type: l.type, outcome: fhirOutcome(dispositions, l.intake.missingFocus.length > 0) });
  }
  for (const orphan of state.pendingOrphans()) {
    const p = orphanProblem(orphan, {
      status: 'orphan',
      encounterKey: '',
      changed: [],
      reason: orphan.source.role === 'order' ? 'cancel_unmatched' : 'orphan',
    });
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
    for (const p of explainMissing(validator.validateTransaction(tx), opts.tables))
      problems.push({ ...p, path: `transactions[${i}]${p.path === '' ? '' : '.'}${p.path}` });
  });
  return { transactions, problems, inputs, messages };
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
