// The local rate limit's token bucket, with a clock the test controls.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBucket } from '../../core/routing/token-bucket.js';

describe('token bucket', () => {
  it('starts full, refuses when empty, and refills by whole intervals up to the maximum', () => {
    const b = new TokenBucket({ maxTokens: 3, tokensPerFill: 2, fillIntervalMs: 1000 }, 0);
    assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
    assert.equal(b.take(999), false, 'no refill before a whole interval');
    assert.deepEqual([b.take(1000), b.take(1000), b.take(1000)], [true, true, false], 'one interval adds tokensPerFill');
    assert.deepEqual([b.take(60_000), b.take(60_000), b.take(60_000), b.take(60_000)], [true, true, true, false], 'never more than maxTokens');
  });

  it('keeps the remainder of an interval', () => {
    const b = new TokenBucket({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 100 }, 0);
    assert.equal(b.take(0), true);
    assert.equal(b.take(150), true, 'refilled at 100');
    assert.equal(b.take(199), false, 'the next fill is at 200, not 250');
    assert.equal(b.take(200), true);
  });
});
