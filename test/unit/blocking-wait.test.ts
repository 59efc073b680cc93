// The controller's blocking queries of Consul each wait their own time, so that a thousand of them
// started together do not expire together: every wait within bounds whose mean is the 30 s used
// before, in Consul's duration syntax, and spread over the whole range.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BLOCKING_WAIT_MS, blockingWait } from '../../controller/consul/blocking-wait.js';

const ms = (wait: string) => {
  const m = /^(\d+)ms$/.exec(wait);
  assert.ok(m, `${wait} is a Go duration in milliseconds`);
  return Number(m[1]);
};

describe('blocking query waits', () => {
  it('stay within the bounds for any draw', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (r) => {
        const w = ms(blockingWait(() => r));
        assert.ok(w >= BLOCKING_WAIT_MS.min && w < BLOCKING_WAIT_MS.max, `${w} ms`);
      }),
    );
    assert.equal((BLOCKING_WAIT_MS.min + BLOCKING_WAIT_MS.max) / 2, 30_000);
  });

  it('spread a thousand queries over the range instead of one instant', () => {
    const waits = Array.from({ length: 1000 }, () => ms(blockingWait()));
    // In each fifth of the range some of them expire (about 200 each; fewer than 100 is a one-in-10^15 draw).
    const fifth = (BLOCKING_WAIT_MS.max - BLOCKING_WAIT_MS.min) / 5;
    for (let k = 0; k < 5; k++) {
      const n = waits.filter((w) => w >= BLOCKING_WAIT_MS.min + k * fifth && w < BLOCKING_WAIT_MS.min + (k + 1) * fifth).length;
      assert.ok(n > 100, `${n} of 1,000 waits in fifth ${k + 1}`);
    }
  });
});
