// The in-memory CredentialStore of the product (src/outbound/memory-credentials.ts) for the
// sign-in and token tests, with a switch that fails the next write and a record of writes.
import { MemoryCredentials as Base } from '../src/outbound/memory-credentials.js';

/** CredentialStore in memory, with a switch that fails the next write and a record of writes. */
export class MemoryCredentials extends Base {
  failNextPut = false;
  readonly writes: string[] = [];
  override putCredential(name: string, v: { sealed: string; meta: Readonly<Record<string, unknown>>; expiresAt?: Date }, ifVersion: number, at: Date) {
    if (this.failNextPut) {
      this.failNextPut = false;
      return Promise.reject(new Error('disk full'));
    }
    return super.putCredential(name, v, ifVersion, at).then((r) => {
      if (r !== false) this.writes.push(name);
      return r;
    });
  }
}
