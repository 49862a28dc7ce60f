// The state of each consultation after a merge: cancelled, incomplete (required fields missing),
// invalid (a local NRDR rule fails), or ready; a consultation whose content is what was last
// submitted keeps its submission state.
import { createHash } from 'node:crypto';
import type { Problem } from '../cdsr/problem.js';
import type { Encounter } from '../cdsr/schema.js';
import { MISSING_FIELD_CODES } from '../cdsr/site-rules.js';
import type { CdsrValidator } from '../cdsr/validate.js';
import { encounterKey, type ConsultationState, type EncounterState } from '../mapping/merge.js';
import { consultationWire } from '../mapping/wire.js';
import { checkRecordTransition, SUBMISSION_STATES, type RecordState } from './states.js';

export { RECORD_STATES, SUBMISSION_STATES, type RecordState } from './states.js';

export interface ConsultationVerdict {
  readonly state: 'incomplete' | 'invalid' | 'ready' | 'cancelled';
  /** Required fields still missing (for incomplete). */
  readonly missing: readonly string[];
  readonly problems: readonly Problem[];
  /** Hash of what would be sent for this consultation (its encounter's fields included). */
  readonly contentHash: string;
  /** The wire encounter with just this consultation. */
  readonly wire: Encounter;
}

export function evaluateConsultation(validator: CdsrValidator, enc: EncounterState, cons: ConsultationState): ConsultationVerdict {
  const wire = consultationWire(enc, cons);
  const contentHash = createHash('sha256').update(JSON.stringify(wire)).digest('hex');
  if (cons.cancelled?.value === 'cancelled') return { state: 'cancelled', missing: [], problems: [], contentHash, wire };
  const problems = validator.validateEncounter(wire, 0, enc.facilityId).filter((p) => p.severity === 'error');
  // a required field missing (also one a site rule requires): the record waits for it
  const missing = [...new Set(problems.filter((p) => MISSING_FIELD_CODES.has(p.code)).map((p) => p.field ?? ''))];
  const state = missing.length > 0 ? 'incomplete' : problems.length > 0 ? 'invalid' : 'ready';
  return { state, missing, problems, contentHash, wire };
}

/** What is written for one consultation after a merge. */
export interface ConsultationWrite {
  readonly consultationKey: string;
  readonly date: string;
  readonly time: string;
  /** Where the key came from (ConsultationState.keyRank); null = unknown. */
  readonly keyRank: number | null;
  readonly fields: string;
  readonly cancelled: string | null;
  /** The rule and crosswalk row that exclude it (JSON), while they do. */
  readonly exclusion: string | null;
  readonly state: RecordState;
  readonly missing: string;
  readonly problems: string;
  readonly contentHash: string;
}

/** What the store knows of a consultation before a merge. */
export interface PreviousConsultation {
  readonly state: RecordState;
  readonly submittedHash: string;
  /** Some transaction with it was (or is about to be) POSTed and NRDR did not reject it there. */
  readonly atNrdr: boolean;
}

/**
 * The rows to write for an encounter's consultations after a merge. A consultation whose content
 * is what was last submitted keeps its submission state (submitted / accepted / rejected). A
 * cancellation of one NRDR may hold is cancelled-after-submission, never a silent `cancelled`.
 */
export function consultationWrites(validator: CdsrValidator, enc: EncounterState, previous: ReadonlyMap<string, PreviousConsultation>): ConsultationWrite[] {
  const key = encounterKey(enc.facilityId, enc.encounterId);
  return [...enc.consultations].map(([cKey, cons]) => {
    const v = evaluateConsultation(validator, enc, cons);
    const before = previous.get(cKey);
    // only a submission state is kept: a record cancelled and then placed again is evaluated afresh
    const keep = before !== undefined && SUBMISSION_STATES.has(before.state) && before.submittedHash === v.contentHash && v.state === 'ready';
    const next: RecordState = v.state === 'cancelled' && before?.atNrdr ? 'cancelled-after-submission' : keep ? before.state : v.state;
    // the one check every record state change passes (states.ts)
    const state = checkRecordTransition(`${key} ${cKey}`, before?.state, next);
    return {
      consultationKey: cKey,
      date: cons.date,
      time: cons.time,
      keyRank: cons.keyRank ?? null,
      fields: JSON.stringify(cons.fields),
      cancelled: cons.cancelled ? JSON.stringify(cons.cancelled) : null,
      exclusion: cons.exclusion && cons.cancelled?.value === 'cancelled' ? JSON.stringify(cons.exclusion) : null,
      state,
      missing: JSON.stringify(v.missing),
      problems: JSON.stringify(v.problems),
      contentHash: v.contentHash,
    };
  });
}
