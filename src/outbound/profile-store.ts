// What the store keeps per connection profile: credentials (the ACR Connect sign-in, a rotated
// refresh token, sign-ins under way) under names prefixed with the profile (`test:acr-signin`),
// so a token of one environment is never presented to another; the de-identification key; and
// the naming, once, of what was written before profiles existed.
import { randomBytes } from 'node:crypto';
import type { CredentialRow, CredentialStore, OutboundLedger } from '../store/store.js';
import type { ProfileName } from '../profile.js';
import { SIGNIN_CREDENTIAL } from './acr-signin.js';
import { REFRESH_CREDENTIAL } from './token.js';

type Log = { info(o: object, m: string): void; warn(o: object, m: string): void };

/** The store's credentials as one profile sees them: its own names only. */
export function profileCredentials(store: CredentialStore, profile: ProfileName): CredentialStore {
  const n = (name: string) => `${profile}:${name}`;
  const strip = (r: CredentialRow | undefined): CredentialRow | undefined => (r ? { ...r, name: r.name.slice(profile.length + 1) } : undefined);
  return {
    credential: async (name) => strip(await store.credential(n(name))),
    putCredential: (name, value, ifVersion, at) => store.putCredential(n(name), value, ifVersion, at),
    takeCredential: async (name) => strip(await store.takeCredential(n(name))),
    deleteCredential: (name) => store.deleteCredential(n(name)),
    purgeCredentials: (prefix, before) => store.purgeCredentials(n(prefix), before),
  };
}

/** The credentials that were kept without a profile before profiles existed. */
const LEGACY_CREDENTIALS = [SIGNIN_CREDENTIAL, REFRESH_CREDENTIAL] as const;

/**
 * Names what was written before profiles. Transactions without a profile: those sent as the test
 * profile's facility become `test`'s (they went to the test environment), the rest the legacy
 * profile's (the one today's variables describe: legacyProfileName). The sign-in and refresh token
 * kept under their bare names: the legacy profile's while the configuration names no profile
 * (nothing changed for that deployment); once CDSR_PROFILE is set, nothing tells which environment
 * they were for, so they are forgotten (sign in again) rather than shown to the wrong one. Done at
 * every start; after the first it finds nothing.
 */
export async function adoptUnprofiled(
  store: CredentialStore & OutboundLedger,
  legacy: ProfileName,
  at: Date,
  log: Log,
  opts: { readonly testFacilityId?: string; readonly profilesConfigured?: boolean } = {},
): Promise<void> {
  const transactions = await store.adoptUnprofiled(
    legacy,
    opts.testFacilityId !== undefined ? { facilityId: opts.testFacilityId, profile: 'test' } : undefined,
  );
  const moved: string[] = [];
  const dropped: string[] = [];
  for (const name of LEGACY_CREDENTIALS) {
    const old = await store.credential(name);
    if (!old) continue;
    if (opts.profilesConfigured === true) {
      await store.deleteCredential(name);
      dropped.push(name);
      continue;
    }
    const target = `${legacy}:${name}`;
    const written =
      (await store.credential(target)) !== undefined ||
      (await store.putCredential(
        target,
        { sealed: old.sealed, meta: old.meta, ...(old.expiresAt !== undefined ? { expiresAt: new Date(old.expiresAt) } : {}) },
        0,
        at,
      )) !== false;
    if (written) {
      await store.deleteCredential(name);
      moved.push(name);
    }
  }
  if (transactions > 0 || moved.length > 0)
    log.info(
      { event: 'profile_adopted', profile: legacy, transactions, credentials: moved },
      `what was kept before connection profiles (transactions, sign-in) is named as the ${legacy} profile's${opts.testFacilityId !== undefined ? ` (transactions of the test facility as the test profile's)` : ''}`,
    );
  if (dropped.length > 0)
    log.warn(
      { event: 'profile_credentials_dropped', credentials: dropped },
      'the ACR Connect sign-in and refresh token kept before connection profiles are forgotten: nothing tells which environment they were for; sign in again under the profile in force (or give its ACR_REFRESH_TOKEN)',
    );
}

/** The credential that holds the de-identification key (one per install, made at the first start under test). */
export const DEID_KEY_CREDENTIAL = 'deid-key';

/**
 * The per-install key of the de-identification step: read from the store, or made and written
 * there at the first use (compare-and-set: instances sharing a store agree on one). It stays in the
 * store: whoever can read the store holds the originals anyway; it keeps pseudonyms from being
 * recomputed outside.
 */
export async function deidentificationKey(store: CredentialStore, at: Date): Promise<Buffer> {
  for (let i = 0; i < 3; i++) {
    const kept = await store.credential(DEID_KEY_CREDENTIAL);
    if (kept) return Buffer.from(kept.sealed, 'base64');
    const fresh = randomBytes(32);
    if (
      (await store.putCredential(DEID_KEY_CREDENTIAL, { sealed: fresh.toString('base64'), meta: { purpose: 'de-identification (HMAC-SHA256)' } }, 0, at)) !==
      false
    )
      return fresh;
  }
  throw new Error('the de-identification key could not be written to the store (written by another instance at the same time): start again');
}
