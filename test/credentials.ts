// A CredentialStore in memory (the sign-in and token tests): compare-and-set as the SQL stores do
// it, a switch that fails the next write, and a record of writes.
import type { CredentialRow, CredentialStore } from '../src/store/store.js';

/** CredentialStore in memory, with a switch that fails the next write and a record of writes. */
export class MemoryCredentials implements CredentialStore {
  readonly rows = new Map<string, CredentialRow>();
  failNextPut = false;
  readonly writes: string[] = [];
  credential(name: string) {
    return Promise.resolve(this.rows.get(name));
  }
  putCredential(name: string, v: { sealed: string; meta: Readonly<Record<string, unknown>>; expiresAt?: Date }, ifVersion: number, at: Date) {
    if (this.failNextPut) {
      this.failNextPut = false;
      return Promise.reject(new Error('disk full'));
    }
    if ((this.rows.get(name)?.version ?? 0) !== ifVersion) return Promise.resolve(false as const);
    this.rows.set(name, {
      name,
      sealed: v.sealed,
      meta: v.meta,
      version: ifVersion + 1,
      ...(v.expiresAt ? { expiresAt: v.expiresAt.toISOString() } : {}),
      updatedAt: at.toISOString(),
    });
    this.writes.push(name);
    return Promise.resolve(ifVersion + 1);
  }
  takeCredential(name: string) {
    const r = this.rows.get(name);
    this.rows.delete(name);
    return Promise.resolve(r);
  }
  deleteCredential(name: string) {
    this.rows.delete(name);
    return Promise.resolve();
  }
  purgeCredentials(prefix: string, before: Date) {
    let n = 0;
    for (const [k, r] of this.rows)
      if (k.startsWith(prefix) && r.expiresAt !== undefined && Date.parse(r.expiresAt) < before.getTime()) n += this.rows.delete(k) ? 1 : 0;
    return Promise.resolve(n);
  }
}
