// Sealed secrets: what is sealed opens with the same key and purpose only; a wrong key, any
// changed character and a malformed value each fail with their own typed error.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { keyFingerprint, parseSecretKey, SecretBox, SecretTamperedError, SecretWrongKeyError } from './secret-box.js';
import { runs } from '../../test/runs.js';

const KEY = Buffer.alloc(32, 7);
const OTHER = Buffer.alloc(32, 9);

describe('SecretBox', () => {
  it('opens what it sealed; each seal differs (a fresh nonce)', () => {
    const box = new SecretBox(KEY);
    const a = box.seal('refresh-token-1', 'acr-signin');
    const b = box.seal('refresh-token-1', 'acr-signin');
    assert.notEqual(a, b);
    assert.equal(box.open(a, 'acr-signin'), 'refresh-token-1');
    assert.match(a, /^v1\.[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    assert.ok(!a.includes('refresh-token-1'));
  });

  it('a wrong key fails as SECRET_WRONG_KEY, naming both fingerprints', () => {
    const sealed = new SecretBox(KEY).seal('x', 'acr-signin');
    assert.throws(
      () => new SecretBox(OTHER).open(sealed, 'acr-signin'),
      (e: unknown) =>
        e instanceof SecretWrongKeyError &&
        e.code === 'SECRET_WRONG_KEY' &&
        e.message.includes(keyFingerprint(KEY)) &&
        e.message.includes(keyFingerprint(OTHER)),
    );
  });

  it('another purpose fails as SECRET_TAMPERED (a pending sign-in never opens as the sign-in)', () => {
    const box = new SecretBox(KEY);
    assert.throws(() => box.open(box.seal('x', 'acr-pending'), 'acr-signin'), SecretTamperedError);
  });

  it('any changed bit of nonce, ciphertext or tag is detected (property)', () => {
    const box = new SecretBox(KEY);
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 200 }), fc.constantFrom(2, 3, 4), fc.nat(), fc.integer({ min: 0, max: 7 }), (plain, part, at, bit) => {
        const sealed = box.seal(plain, 'acr-signin');
        const parts = sealed.split('.');
        const bytes = Buffer.from(parts[part]!, 'base64url');
        const i = at % bytes.length;
        bytes[i] = bytes[i]! ^ (1 << bit);
        parts[part] = bytes.toString('base64url');
        assert.equal(box.open(sealed, 'acr-signin'), plain);
        assert.throws(() => box.open(parts.join('.'), 'acr-signin'), SecretTamperedError);
      }),
      { numRuns: runs(300) },
    );
  });

  it('a changed ciphertext byte is SECRET_TAMPERED exactly', () => {
    const box = new SecretBox(KEY);
    const parts = box.seal('refresh-token', 'acr-signin').split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    parts[3] = body.toString('base64url');
    assert.throws(() => box.open(parts.join('.'), 'acr-signin'), {
      code: 'SECRET_TAMPERED',
      message: 'the sealed value was changed since it was written (authentication failed)',
    });
  });

  it('something that is not a sealed value is SECRET_MALFORMED', () => {
    const box = new SecretBox(KEY);
    for (const bad of ['', 'plain-refresh-token', 'v2.a.b.c.d', 'v1.a.b.c', 'v1.a.b c.d.e']) {
      assert.throws(() => box.open(bad, 'acr-signin'), { code: 'SECRET_MALFORMED' }, bad);
    }
  });

  it('CDSR_SECRET_KEY: base64 or base64url of exactly 32 bytes', () => {
    assert.deepEqual(parseSecretKey(KEY.toString('base64')), KEY);
    assert.deepEqual(parseSecretKey(Buffer.alloc(32, 0xfb).toString('base64url')), Buffer.alloc(32, 0xfb));
    assert.throws(() => parseSecretKey(Buffer.alloc(16).toString('base64')), {
      code: 'SECRET_MALFORMED',
      message: 'the key must be base64 of 32 bytes (it decodes to 16); make one with: openssl rand -base64 32',
    });
    assert.throws(() => parseSecretKey('not base64!'), { code: 'SECRET_MALFORMED' });
    assert.throws(() => new SecretBox(Buffer.alloc(31)), { code: 'SECRET_MALFORMED' });
  });
});
