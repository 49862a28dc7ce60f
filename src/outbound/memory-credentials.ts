// A CredentialStore in memory: compare-and-set as the SQL stores do it. What a run that keeps
// nothing uses (certify's rehearsal sign-in), and what the sign-in and token tests build on.
import type { CredentialRow, CredentialStore } from '../store/store.js';

export class MemoryCredentials implements CredentialStore {
  readonly rows = new Map<string, CredentialRow>();
  credential(name: string): Promise<CredentialRow | undefined> {
    return Promise.resolve(this.rows.get(name));
  }
  putCredential(
    name: string,
    v: { sealed: string; meta: Readonly<Record<string, unknown>>; expiresAt?: Date },
    ifVersion: number,
    at: Date,
  ): Promise<number | false> {
    if ((this.rows.get(name)?.version ?? 0) !== ifVersion) return Promise.resolve(false as const);
    this.rows.set(name, {
      name,
      sealed: v.sealed,
      meta: v.meta,
      version: ifVersion + 1,
      ...(v.expiresAt ? { expiresAt: v.expiresAt.toISOString() } : {}),
      updatedAt: at.toISOString(),
    });
    return Promise.resolve(ifVersion + 1);
  }
  takeCredential(name: string): Promise<CredentialRow | undefined> {
    const r = this.rows.get(name);
    this.rows.delete(name);
    return Promise.resolve(r);
  }
  deleteCredential(name: string): Promise<void> {
    this.rows.delete(name);
    return Promise.resolve();
  }
  purgeCredentials(prefix: string, before: Date): Promise<number> {
    let n = 0;
    for (const [k, r] of this.rows)
      if (k.startsWith(prefix) && r.expiresAt !== undefined && Date.parse(r.expiresAt) < before.getTime()) n += this.rows.delete(k) ? 1 : 0;
    return Promise.resolve(n);
  }
}
