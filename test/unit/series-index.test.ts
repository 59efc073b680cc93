// The sidecar's metric series, found by label values (proxy/series-index.ts), and the metrics
// written from them: every distinct set of values is its own series, the same set always the
// same one, whatever the values hold.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Metric } from '../../proxy/exposition.js';
import { RequestMetrics } from '../../proxy/request-metrics.js';
import { SeriesIndex } from '../../proxy/series-index.js';

const NAMES = ['a', 'b', 'c'] as const;
// Few distinct values, so that sets repeat; separators and empty strings among them.
const value = fc.constantFrom('', 'x', 'y', '\u0001', 'x\u0001', '\u0001y', '200', '{"a":1}');
const labelSet = fc.record({ a: value, b: value, c: value }, { requiredKeys: [] });

describe('series index', () => {
  it('gives each distinct set of label values one series, in the order first used (property)', () => {
    fc.assert(
      fc.property(fc.array(labelSet, { maxLength: 60 }), (sets) => {
        const index = new SeriesIndex(NAMES, (labels) => ({ labels }));
        const reference = new Map<string, { labels: Record<string, string> }>();
        for (const labels of sets) {
          const got = index.get(labels);
          const key = JSON.stringify(NAMES.map((n) => labels[n] ?? ''));
          const expected = reference.get(key);
          if (expected) assert.equal(got, expected, `the same values ${key} found another series`);
          else {
            assert.ok(!index.values().slice(0, -1).includes(got), `new values ${key} found an existing series`);
            reference.set(key, got);
          }
          assert.deepEqual(got.labels, Object.fromEntries(NAMES.map((n) => [n, labels[n] ?? ''])));
        }
        assert.deepEqual(index.values(), [...reference.values()]);
      }),
    );
  });

  it('keeps apart values that only a joined key would confuse', () => {
    const index = new SeriesIndex(['a', 'b'], (labels) => ({ labels }));
    const one = index.get({ a: 'x\u0001', b: '' });
    const two = index.get({ a: 'x', b: '\u0001' });
    assert.notEqual(one, two);
    assert.equal(index.values().length, 2);
  });

  it('treats a missing label as empty and numbers as their text, and starts over when cleared', () => {
    const index = new SeriesIndex(['code', 'flags'], (labels) => ({ labels }));
    assert.equal(index.get({ code: 200 }), index.get({ code: '200', flags: '' }));
    index.clear();
    assert.deepEqual(index.values(), []);
    assert.deepEqual(index.get({ code: '503', flags: 'UF' }).labels, { code: '503', flags: 'UF' });
  });

  it('works for a metric without labels', () => {
    const index = new SeriesIndex([], () => ({ n: 0 }));
    index.get({}).n++;
    index.get({ ignored: 'x' }).n++;
    assert.deepEqual(index.values(), [{ n: 2 }]);
  });
});

describe('metrics over the series index', () => {
  it('a counter adds up per label set, through inc and a held series alike', () => {
    const m = new Metric('bytes_total', 'Bytes', 'counter', ['dir', 'peer']);
    m.inc({ dir: 'out', peer: 'p' }, 5);
    const held = m.of({ dir: 'out', peer: 'p' });
    held.value += 7;
    m.inc({ dir: 'in', peer: 'p' }, 1);
    assert.equal(m.text(), '# HELP bytes_total Bytes\n# TYPE bytes_total counter\nbytes_total{dir="out",peer="p"} 12\nbytes_total{dir="in",peer="p"} 1\n');
  });

  it('request metrics count and bucket per label set', () => {
    const m = new RequestMetrics(
      ['code'],
      { requests: 'req_total', duration: 'dur', requestBytes: 'reqb', responseBytes: 'resb' },
      { duration: [1, 10], size: [100] },
      { requests: 'r', duration: 'd', requestBytes: 'q', responseBytes: 's' },
    );
    m.record({ code: '200' }, 0.5, 10, 1000);
    m.record({ code: '200' }, 5, 10, 50);
    m.record({ code: '503' }, 20, 0, 0);
    const text = m.text();
    assert.match(text, /^req_total\{code="200"\} 2$/m);
    assert.match(text, /^req_total\{code="503"\} 1$/m);
    assert.match(text, /^dur_bucket\{code="200",le="1"\} 1$/m);
    assert.match(text, /^dur_bucket\{code="200",le="10"\} 2$/m);
    assert.match(text, /^dur_bucket\{code="503",le="10"\} 0$/m);
    assert.match(text, /^dur_sum\{code="200"\} 5.5$/m);
    assert.match(text, /^resb_bucket\{code="200",le="100"\} 1$/m);
  });
});
