// What a sender may send: a rate per credential (messages and bytes, each a bucket with a burst)
// and the store's ceiling, on an injected clock; then the same refusals as the HTTP routes answer
// them (exact ACK, OperationOutcome, Retry-After) and as /metrics counts them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Admission, type AdmissionLimits } from './admission.js';
import { REPO_ROOT } from '../../test/helpers.js';
import { lines, postHl7, withTestServer } from '../../test/server.js';

const NONE: AdmissionLimits = { messagesPerSecond: 0, bytesPerSecond: 0, burstSeconds: 1, maxStoreBytes: 0 };

function clocked(limits: Partial<AdmissionLimits>, size = 0) {
  let now = 1_000_000;
  let reads = 0;
  const warnings: unknown[] = [];
  let bytes = size;
  const a = new Admission(
    { ...NONE, ...limits },
    () => {
      reads++;
      return Promise.resolve(bytes);
    },
    () => now,
    (w) => warnings.push(w),
  );
  return {
    a,
    warnings,
    reads: () => reads,
    advance: (ms: number) => (now += ms),
    setSize: (b: number) => (bytes = b),
  };
}

describe('admission', () => {
  it('takes everything when no limit is set, without reading the store', async () => {
    const c = clocked({});
    for (let i = 0; i < 1000; i++) assert.equal(await c.a.admit('k', 1_000_000), undefined);
    assert.equal(c.reads(), 0);
  });

  it('a credential gets its burst, then its rate; another credential is not held by it', async () => {
    const c = clocked({ messagesPerSecond: 2, burstSeconds: 3 });
    for (let i = 0; i < 6; i++) assert.equal(await c.a.admit('mirth', 10), undefined);
    assert.deepEqual(await c.a.admit('mirth', 10), {
      reason: 'rate',
      code: 'RATE_LIMITED',
      message: 'this credential (mirth) sends faster than 2 messages a second (CDSR_SEND_RATE): send it again later',
      retryAfterS: 1,
      httpStatus: 429,
    });
    assert.equal(await c.a.admit('ehr', 10), undefined);
    // half a second gives one message back
    c.advance(500);
    assert.equal(await c.a.admit('mirth', 10), undefined);
    assert.equal((await c.a.admit('mirth', 10))?.code, 'RATE_LIMITED');
    // a long pause refills to the burst, not past it
    c.advance(60_000);
    for (let i = 0; i < 6; i++) assert.equal(await c.a.admit('mirth', 10), undefined);
    assert.equal((await c.a.admit('mirth', 10))?.code, 'RATE_LIMITED');
    assert.deepEqual(c.a.gauges().refused, { rate: 3, store_full: 0 });
  });

  it('bytes have their own bucket; a message larger than the burst passes against a full bucket only', async () => {
    const c = clocked({ bytesPerSecond: 1000, burstSeconds: 2 });
    assert.equal(await c.a.admit('k', 1500), undefined);
    const r = await c.a.admit('k', 1000);
    assert.equal(r?.message, 'this credential (k) sends faster than 1000 bytes a second (CDSR_SEND_BYTES_RATE): send it again later');
    assert.equal(r?.retryAfterS, 1);
    c.advance(2000);
    // 5,000 bytes cost the whole burst (2,000), no more
    assert.equal(await c.a.admit('k', 5000), undefined);
    const again = await c.a.admit('k', 5000);
    assert.equal(again?.retryAfterS, 2);
  });

  it('the store ceiling: 503 past it, a warning once per crossing of 90 %, the size read at most every 5 s', async () => {
    const c = clocked({ maxStoreBytes: 1000 }, 500);
    assert.equal(await c.a.admit('k', 1), undefined);
    assert.equal(await c.a.admit('k', 1), undefined);
    assert.equal(c.reads(), 1);
    c.setSize(950);
    c.advance(5000);
    assert.equal(await c.a.admit('k', 1), undefined);
    assert.deepEqual(c.warnings, [{ storeBytes: 950, maxStoreBytes: 1000 }]);
    c.setSize(1000);
    c.advance(5000);
    assert.deepEqual(await c.a.admit('k', 1), {
      reason: 'store_full',
      code: 'STORE_FULL',
      message:
        'the store has reached its ceiling (CDSR_MAX_STORE_BYTES, 1000 bytes): nothing more is taken until space is freed (retention, a larger ceiling); send it again later',
      retryAfterS: 60,
      httpStatus: 503,
    });
    assert.equal(c.warnings.length, 1);
    // space freed, then filled again: warned again
    c.setSize(100);
    c.advance(5000);
    assert.equal(await c.a.admit('k', 1), undefined);
    c.setSize(990);
    c.advance(5000);
    assert.equal(await c.a.admit('k', 1), undefined);
    assert.equal(c.warnings.length, 2);
    assert.deepEqual(c.a.gauges(), { storeBytes: 990, maxStoreBytes: 1000, refused: { rate: 0, store_full: 1 } });
    assert.equal(c.reads(), 5);
  });

  it('many asking at once while the size is stale share one reading', async () => {
    const c = clocked({ maxStoreBytes: 1000 }, 10);
    await Promise.all(Array.from({ length: 20 }, () => c.a.admit('k', 1)));
    assert.equal(c.reads(), 1);
  });
});

describe('admission at the HTTP edge', () => {
  const ORM = readFileSync(join(REPO_ROOT, 'samples', 'hl7v2', '01-orm-new.hl7'), 'utf8');
  const tight = () =>
    new Admission(
      { ...NONE, messagesPerSecond: 1, burstSeconds: 1 },
      () => Promise.resolve(0),
      () => 0,
    );

  it('POST /hl7v2 past the rate: 429, Retry-After, an AR naming the setting, nothing stored; counted in /metrics', () =>
    withTestServer(
      async (s) => {
        assert.equal((await postHl7(s, ORM)).status, 200);
        const r = await s.fetch('/hl7v2', { method: 'POST', body: ORM.replaceAll('MSG0001', 'MSG0002'), headers: { 'content-type': 'application/hl7-v2' } });
        assert.equal(r.status, 429);
        assert.equal(r.headers.get('retry-after'), '1');
        assert.deepEqual(lines(await r.text()), [
          'MSH|^~\\&|CDSR|ACR|EHR|GENHOSP|20261123060000+0000||ACK^O01^ACK|CDSR0|P|2.5.1',
          'MSA|AR|MSG0002',
          'ERR|||207^Application internal error^HL70357|E||||RATE_LIMITED: this credential (open) sends faster than 1 messages a second (CDSR_SEND_RATE): send it again later',
        ]);
        assert.deepEqual(
          (await s.store.messages({})).map((m) => m.controlId),
          ['MSG0001'],
        );
        const metrics = await (await s.fetch('/metrics')).text();
        assert.match(metrics, /^cdsr_messages_refused_total\{reason="rate"\} 1$/m);
        assert.match(metrics, /^cdsr_store_max_bytes 0$/m);
      },
      { admission: tight() },
    ));

  it('POST /fhir past the store ceiling: 503 with a transient OperationOutcome and Retry-After', () =>
    withTestServer(
      async (s) => {
        const r = await s.fetch('/fhir', {
          method: 'POST',
          body: JSON.stringify({ resourceType: 'ServiceRequest', id: 'x' }),
          headers: { 'content-type': 'application/fhir+json' },
        });
        assert.equal(r.status, 503);
        assert.equal(r.headers.get('retry-after'), '60');
        assert.deepEqual(await r.json(), {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: 'transient',
              diagnostics:
                'STORE_FULL: the store has reached its ceiling (CDSR_MAX_STORE_BYTES, 10 bytes): nothing more is taken until space is freed (retention, a larger ceiling); send it again later',
            },
          ],
        });
        assert.deepEqual(await s.store.messages({}), []);
      },
      {
        admission: new Admission(
          { ...NONE, maxStoreBytes: 10 },
          () => Promise.resolve(10),
          () => 0,
        ),
      },
    ));
});
