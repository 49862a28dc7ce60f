// The outcome of mapping one inbound message or resource: what the inbound service answers
// (AA/AE/AR, 2xx/422/400) and stores follows from `disposition`.
import type { Problem } from '../cdsr/problem.js';
import type { PartialRecord } from './record.js';

export type MapOutcome =
  /** Mapped: the partial records (one per order of the message) are merged (problems may hold warnings). */
  | { readonly disposition: 'mapped'; readonly records: readonly PartialRecord[]; readonly problems: readonly Problem[] }
  /** Understood but a present value cannot be mapped: kept for replay after the tables are fixed. */
  | { readonly disposition: 'error'; readonly problems: readonly Problem[] }
  /** A message type or resource type the tables do not handle. */
  | { readonly disposition: 'unsupported'; readonly problems: readonly Problem[] }
  /** Not HL7 / not FHIR at all. */
  | { readonly disposition: 'invalid'; readonly problems: readonly Problem[] };
