// A sidecar acknowledges a snapshot a moment after applying it: once per burst, naming the newest,
// never later than the delay after the first one it has not acknowledged (so steady changes are
// still acknowledged), and nothing once its stream is gone. Node's mock timers stand in for time.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { DeferredAck } from '../../core/snapshot/deferred-ack.js';

describe('deferred acknowledgements', () => {
  let sent: string[];
  const acks = (delayMs?: number) => new DeferredAck((v) => sent.push(v), delayMs);

  beforeEach(() => {
    sent = [];
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => mock.timers.reset());

  it('says a snapshot is applied after the delay, not before', () => {
    const a = acks(1000);
    a.applied('v1');
    mock.timers.tick(999);
    assert.deepEqual(sent, []);
    mock.timers.tick(1);
    assert.deepEqual(sent, ['v1']);
    mock.timers.tick(5000);
    assert.deepEqual(sent, ['v1'], 'once');
  });

  it('acknowledges a burst once, naming the newest, the delay after its first snapshot', () => {
    const a = acks(1000);
    a.applied('v1');
    mock.timers.tick(600);
    a.applied('v2');
    mock.timers.tick(300);
    a.applied('v3');
    mock.timers.tick(100);
    assert.deepEqual(sent, ['v3'], 'not pushed back by the later ones');
  });

  it('keeps acknowledging changes that never stop', () => {
    const a = acks(1000);
    for (let i = 1; i <= 10; i++) {
      a.applied(`v${i}`);
      mock.timers.tick(400);
    }
    assert.deepEqual(sent, ['v3', 'v6', 'v9'], 'every second, the newest');
    mock.timers.tick(600);
    assert.deepEqual(sent, ['v3', 'v6', 'v9', 'v10'], 'the last one too');
  });

  it('drops what is pending when its stream is gone, and sends it at once when flushed', () => {
    const a = acks(1000);
    a.applied('v1');
    a.cancel();
    mock.timers.tick(2000);
    assert.deepEqual(sent, []);
    a.applied('v2');
    a.flush();
    assert.deepEqual(sent, ['v2']);
    mock.timers.tick(2000);
    assert.deepEqual(sent, ['v2'], 'not again when the timer would have run');
    a.flush();
    assert.deepEqual(sent, ['v2'], 'nothing pending, nothing sent');
  });

  it('with no delay, acknowledges each snapshot at once', () => {
    const a = acks(0);
    a.applied('v1');
    a.applied('v2');
    assert.deepEqual(sent, ['v1', 'v2']);
  });

  it('refuses a delay that is not a number of milliseconds', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => acks(bad), RangeError);
  });
});
