import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RetryBuffer } from '../../proxy/retry-buffer.js';

describe('RetryBuffer', () => {
  it('keeps a body up to its limit and gives it whole to whoever waits for it', async () => {
    const b = new RetryBuffer(10);
    const whole = b.whole();
    b.keep(Buffer.from('hello '));
    b.keep(Buffer.from('you'));
    assert.equal(b.replayable, true);
    b.end();
    assert.equal((await whole)?.toString(), 'hello you');
    assert.equal((await b.whole())?.toString(), 'hello you', 'and to whoever asks later');
  });

  it('stops keeping past the limit: no more replays, and nobody gets a partial body', async () => {
    const b = new RetryBuffer(4);
    const whole = b.whole();
    b.keep(Buffer.from('abc'));
    b.keep(Buffer.from('de'));
    assert.equal(b.replayable, false);
    assert.equal(b.kept, undefined);
    assert.equal(await whole, undefined);
    b.end();
    assert.equal(await b.whole(), undefined);
  });

  it('gives nothing to whoever waits when the body is cut off', async () => {
    const b = new RetryBuffer(100);
    const whole = b.whole();
    b.keep(Buffer.from('half'));
    b.cutOff();
    assert.equal(await whole, undefined);
  });

  it('stays cut off: whoever asks afterwards gets nothing at once rather than waiting forever', async () => {
    const b = new RetryBuffer(100);
    b.keep(Buffer.from('half'));
    b.cutOff();
    const later = await Promise.race([b.whole(), new Promise<string>((r) => setTimeout(() => r('still waiting'), 200))]);
    assert.equal(later, undefined);
  });

  it('a body already whole is not undone by a cut-off at the end of the call', async () => {
    const b = new RetryBuffer(100);
    b.keep(Buffer.from('all'));
    b.end();
    b.cutOff();
    assert.equal((await b.whole())?.toString(), 'all');
  });

  it('for any chunks: replayable exactly while the total fits, and what is kept is the body so far', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 12 }), fc.nat(200), (chunks, limit) => {
        const b = new RetryBuffer(limit);
        let total = 0;
        for (let i = 0; i < chunks.length; i++) {
          b.keep(Buffer.from(chunks[i]));
          total += chunks[i].length;
          assert.equal(b.replayable, total <= limit);
          if (b.kept) assert.deepEqual(Buffer.concat(b.kept), Buffer.concat(chunks.slice(0, i + 1)));
        }
      }),
    );
  });
});
