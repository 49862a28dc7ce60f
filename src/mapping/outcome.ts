// The outcome of mapping one inbound message or resource: what the inbound service answers
// (AA/AE/AR, 2xx/422/400) and stores follows from `disposition`.
import type { Problem } from '../cdsr/problem.js';
import type { PartialRecord } from './record.js';

/** Who an order is, as far as a message tells: facility, encounter, numbers (placer, filler…); '' / [] where unknown. */
export interface OrderIdentity {
  readonly facilityId: string;
  readonly encounterId: string;
  readonly numbers: readonly string[];
}

export type MapOutcome =
  /** Mapped: the partial records (one per order of the message) are merged (problems may hold warnings). */
  | { readonly disposition: 'mapped'; readonly records: readonly PartialRecord[]; readonly problems: readonly Problem[] }
  /** Understood but a present value cannot be mapped: kept for replay after the tables are fixed. */
  | {
      readonly disposition: 'error';
      readonly problems: readonly Problem[];
      /** The orders the message carries, as far as they could be identified (they are held in the ledger). */
      readonly orders?: readonly OrderIdentity[];
      /** Why those orders are held: the error queue, or a fetch still to come. */
      readonly hold?: 'error' | 'pending_fetch';
    }
  /** A message type or resource type the tables do not handle. */
  | { readonly disposition: 'unsupported'; readonly problems: readonly Problem[] }
  /** Not HL7 / not FHIR at all. */
  | { readonly disposition: 'invalid'; readonly problems: readonly Problem[] };
