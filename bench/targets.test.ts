import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cell, dryRunTarget, productTarget, rssTarget, worklistTarget } from './targets.js';
import type { ProductRow } from './product.js';

const row = (o: Partial<ProductRow>): ProductRow => ({ store: 'sqlite', name: 'serve', connections: 1, reqPerSec: 1, p50: 0.9, p99: 10, non2xx: 0, ...o });

describe('the bench’s targets', () => {
  it('judges each row by its own target, and none for a ceiling', () => {
    assert.equal(cell(productTarget(row({ ratio: 0.5 }))), '≥ 50 % of ceiling, p50 ≤ 1 ms: met');
    assert.equal(cell(productTarget(row({ ratio: 0.49 }))), '≥ 50 % of ceiling, p50 ≤ 1 ms: NOT met');
    assert.equal(cell(productTarget(row({ ratio: 0.6, p50: 1.01 }))), '≥ 50 % of ceiling, p50 ≤ 1 ms: NOT met');
    assert.equal(cell(productTarget(row({ connections: 50, ratio: 0.25, p99: 24.9 }))), '≥ 25 % of ceiling, p99 < 25 ms: met');
    assert.equal(cell(productTarget(row({ connections: 50, ratio: 0.3, p99: 25 }))), '≥ 25 % of ceiling, p99 < 25 ms: NOT met');
    assert.equal(cell(productTarget(row({ store: 'postgres', ratio: 0.24 }))), '≥ 25 % of ceiling: NOT met');
    assert.equal(productTarget(row({ store: 'postgres', connections: 50, ratio: 0.1 })), undefined);
    assert.equal(productTarget(row({})), undefined);
  });

  it('memory under 300 MB; a dry run of 100,000 messages under 60 s, scaled to the messages run', () => {
    assert.equal(cell(rssTarget(299.9)), '< 300 MB: met');
    assert.equal(cell(rssTarget(300)), '< 300 MB: NOT met');
    assert.equal(cell(dryRunTarget(100_000, 59)), '< 60 s: met');
    assert.equal(cell(dryRunTarget(10_000, 6.5)), '< 6.0 s: NOT met');
    assert.equal(cell(dryRunTarget(0, 0)), '< 0.0 s: NOT met');
    assert.equal(cell(worklistTarget(0.99)), '< 1 s: met');
    assert.equal(cell(worklistTarget(1)), '< 1 s: NOT met');
  });
});
