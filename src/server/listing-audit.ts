// A list of the ledger, the records or the messages names patients' encounters, orders and
// accession numbers, which the view role may read: each such list asked for is one entry of the
// access audit — who, which list, by which parameters, how many rows — never the identifiers
// (the audit is read by operators, and would otherwise hold the very numbers it accounts for).
import type { Store } from '../store/store.js';

/** The lists of patients' identifiers, as the audit names them. */
export type Listing = 'orders' | 'records' | 'messages';

/** Writes one audit entry for a list answered: `orders listed: 3 rows (by encounter, state)`. */
export function auditListing(
  store: Pick<Store, 'audit'>,
  at: Date,
  who: string,
  listing: Listing,
  rows: number,
  by: Readonly<Record<string, unknown>>,
): Promise<void> {
  // the names of the parameters given, never their values (an encounter or order number, an MRN)
  const names = Object.entries(by)
    .filter(([k, v]) => v !== undefined && v !== '' && k !== 'limit' && k !== 'after')
    .map(([k]) => k)
    .sort();
  return store.audit({ at, who, what: `${listing} listed: ${rows} ${rows === 1 ? 'row' : 'rows'}${names.length > 0 ? ` (by ${names.join(', ')})` : ''}` });
}
