// What a merge that did not apply a record tells the user: a collision with another order, an
// order without a consultation key, a result or a cancel waiting for its order. The store and
// offline `map` give the same problems.
import type { Problem } from '../cdsr/problem.js';
import { orderNumbersOf, type ApplyResult } from './merge.js';
import type { PartialRecord } from './record.js';

/** The problem of a record the merge refused. */
export function refusal(r: PartialRecord, res: ApplyResult): Problem {
  const numbers = orderNumbersOf(r);
  const named = numbers.length > 0 ? `order ${numbers.join(' / ')}` : `an order of ${r.source.id}`;
  if (res.status === 'collision') {
    return {
      code: 'MERGE_COLLISION',
      message: `${named} has the consultation date and time ${res.consultationKey ?? ''} of order ${(res.heldBy ?? []).join(' / ')} in encounter ${r.encounterId}: two orders cannot share one CDSR consultation, so it is held and nothing of it merged${keyGuess(r)}`,
      severity: 'error',
      scope: 'consultation',
      path: '',
      encounterId: r.encounterId,
      ...(res.consultationKey !== undefined ? { consultationKey: res.consultationKey } : {}),
    };
  }
  return {
    code: 'MAP_NO_CONSULTATION',
    message: `${named} has no consultation date and time and matches no order seen before: ${r.consultationKeyTried ?? 'no rule gives CDS_Consultation_Date and CDS_Consultation_Time'}`,
    severity: 'error',
    scope: 'consultation',
    path: '',
    encounterId: r.encounterId,
    field: 'CDS_Consultation_Date',
  };
}

/** Where a record's consultation key was only guessed (a fallback source), said after a collision it may have caused. */
function keyGuess(r: PartialRecord): string {
  const guessed = r.trace.filter((t) => (t.field === 'CDS_Consultation_Date' || t.field === 'CDS_Consultation_Time') && t.guess !== undefined);
  const paths = [...new Set(guessed.map((t) => t.path))];
  if (paths.length === 0) return '';
  return `; its date and time were only guessed (${guessed[0]!.guess}): if ${paths.join(', ')} is not when this feed's consultation was made, list a better source first or limit ${paths.length > 1 ? 'them' : 'it'} with "when:" (mappings/README.md)`;
}

/** The better key an order brought is another order's: its record kept the key it had (a warning). */
export function keyHeldProblem(r: PartialRecord, res: ApplyResult): Problem | undefined {
  const x = res.rekeyRefused;
  if (!x) return undefined;
  return {
    code: 'MERGE_KEY_HELD',
    message: `order ${orderNumbersOf(r).join(' / ')} now has the consultation date and time ${x.to}, which order ${x.heldBy.join(' / ') || '(another)'} holds in encounter ${r.encounterId}: its record keeps the key ${x.from} it had from a fallback source`,
    severity: 'warning',
    scope: 'consultation',
    path: '',
    encounterId: r.encounterId,
    consultationKey: x.from,
  };
}

/** Why an order waits: a result before its order, or a cancel that matched no order. */
export function orphanProblem(r: PartialRecord, res: ApplyResult): Problem {
  const numbers = orderNumbersOf(r).join(' / ');
  return res.reason === 'cancel_unmatched'
    ? {
        code: 'MERGE_CANCEL_UNMATCHED',
        message: `the cancel of order ${numbers} matched no order seen here; it applies if the order arrives`,
        severity: 'warning',
        scope: 'consultation',
        path: '',
        encounterId: r.encounterId,
      }
    : {
        code: 'MERGE_ORPHAN',
        message: `${r.source.type} ${r.source.id} for order ${numbers} is waiting for its order`,
        severity: 'warning',
        scope: 'consultation',
        path: '',
        encounterId: r.encounterId,
      };
}
