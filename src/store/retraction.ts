// A cancellation that came after NRDR may already hold the consultation (NRDR's API has no
// delete): what the site must do at NRDR, and whether an operator has acknowledged doing it.

export interface Retraction {
  /** The last transaction that carried the consultation. */
  readonly transactionId: string | null;
  /** What the site does at NRDR, in words an operator can follow. */
  readonly instruction: string;
  /** Who acknowledged it (the key by role and position) and when; null while it waits. */
  readonly acknowledged: { readonly by: string; readonly at: string } | null;
}

export function retractionOf(o: {
  facilityId: string;
  encounterId: string;
  consultationKey: string;
  transactionId: string | undefined;
  ackBy: string | undefined;
  ackAt: string | undefined;
  /** Retired: its key moved (a better consultation time, a re-mapped message) after NRDR had it; no order points at it. */
  retired?: boolean;
}): Retraction {
  const tx = o.transactionId ?? null;
  const why =
    o.retired === true
      ? 'its consultation date and time changed after it was sent to NRDR (the record is now sent under its new key)'
      : 'cancelled after it was sent to NRDR';
  const how =
    o.retired === true
      ? `POST /api/records/${o.facilityId}/${o.encounterId}/acknowledge?consultation=${encodeURIComponent(o.consultationKey)}`
      : 'POST /api/orders/{order id}/acknowledge';
  const instruction =
    `${why}${tx !== null ? ` (Transaction_ID ${tx})` : ''}, and NRDR's API cannot delete a record: ` +
    `ask the NRDR Help Desk to remove consultation ${o.consultationKey} of encounter ${o.encounterId} at facility ${o.facilityId} from the CDSR registry, ` +
    `then acknowledge it here (${how})`;
  return { transactionId: tx, instruction, acknowledged: o.ackBy !== undefined && o.ackAt !== undefined ? { by: o.ackBy, at: o.ackAt } : null };
}

/** What an acknowledgement did: done now, done before (by whom, when), or not a retraction at all. */
export type AcknowledgeResult =
  | { readonly result: 'acknowledged' | 'already'; readonly by: string; readonly at: string }
  | { readonly result: 'not-retraction'; readonly state: string }
  | { readonly result: 'not-found' };
