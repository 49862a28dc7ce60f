// Secrets at rest (the ACR Connect refresh token): AES-256-GCM under the key of CDSR_SECRET_KEY.
// A sealed value names its key by a fingerprint, so a wrong key and a changed value are told
// apart; the purpose is bound as associated data, so a value sealed for one use opens for no other.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { AdapterError } from '../cdsr/errors.js';

const VERSION = 'v1';

/** The key of CDSR_SECRET_KEY does not open this value: it was sealed under another key. */
export class SecretWrongKeyError extends AdapterError {
  constructor(message: string) {
    super('SECRET_WRONG_KEY', message);
  }
}

/** The sealed value was changed after it was written (or sealed for another purpose). */
export class SecretTamperedError extends AdapterError {
  constructor(message: string) {
    super('SECRET_TAMPERED', message);
  }
}

/** Not a sealed value at all, or a key that is not 32 bytes. */
export class SecretMalformedError extends AdapterError {
  constructor(message: string) {
    super('SECRET_MALFORMED', message);
  }
}

/** The key of CDSR_SECRET_KEY: base64 (or base64url) of exactly 32 bytes. */
export function parseSecretKey(text: string): Buffer {
  const t = text.trim();
  const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(t) ? Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64') : Buffer.alloc(0);
  if (key.length !== 32)
    throw new SecretMalformedError(`the key must be base64 of 32 bytes (it decodes to ${key.length}); make one with: openssl rand -base64 32`);
  return key;
}

/** Names a key without revealing it (8 bytes of a hash of it). */
export function keyFingerprint(key: Buffer): string {
  return createHash('sha256').update('cdsr-adapter secret key\u0000').update(key).digest('base64url').slice(0, 11);
}

export class SecretBox {
  readonly fingerprint: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new SecretMalformedError(`an AES-256 key is 32 bytes, not ${key.length}`);
    this.fingerprint = keyFingerprint(key);
  }

  /** `v1.<key fingerprint>.<iv>.<ciphertext>.<tag>`, base64url; `purpose` must be given again to open it. */
  seal(plaintext: string, purpose: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(`${VERSION}.${this.fingerprint}.${purpose}`));
    const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
    return [VERSION, this.fingerprint, iv.toString('base64url'), body.toString('base64url'), c.getAuthTag().toString('base64url')].join('.');
  }

  open(sealed: string, purpose: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION || parts.some((p, i) => i > 1 && !/^[A-Za-z0-9_-]*$/.test(p))) {
      throw new SecretMalformedError('not a sealed value of this adapter');
    }
    const [, fp, ivText, bodyText, tagText] = parts as [string, string, string, string, string];
    if (fp !== this.fingerprint) {
      throw new SecretWrongKeyError(
        `sealed under another key (fingerprint ${fp}; CDSR_SECRET_KEY has ${this.fingerprint}): set the key it was sealed with, or sign in again`,
      );
    }
    const iv = Buffer.from(ivText, 'base64url');
    const tag = Buffer.from(tagText, 'base64url');
    if (iv.length !== 12 || tag.length !== 16) throw new SecretTamperedError('the sealed value was changed (its nonce or tag has the wrong length)');
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, iv);
      d.setAAD(Buffer.from(`${VERSION}.${fp}.${purpose}`));
      d.setAuthTag(tag);
      return Buffer.concat([d.update(Buffer.from(bodyText, 'base64url')), d.final()]).toString('utf8');
    } catch {
      throw new SecretTamperedError('the sealed value was changed since it was written (authentication failed)');
    }
  }
}
