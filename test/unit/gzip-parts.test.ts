// Snapshot responses as concatenated gzip members: the whole decodes to the parts joined, and
// what the controller keeps between pushes (each proxy's compressed piece, the shared pieces)
// holds only its own bytes, not the 16 KB chunk zlib wrote it into.
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { GzipParts, type PieceKind, type ProxyPieceCache } from '../../controller/api/gzip-parts.js';
import { fuzzParameters } from '../fuzz/fuzz-options.js';

const KINDS: PieceKind[] = ['own', 'shared', 'proxy', 'own'];

describe('gzip parts', () => {
  it('decode to the parts joined, whatever the parts hold', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 2000 }), { minLength: 4, maxLength: 4 }), (parts) => {
        const body = Buffer.concat(new GzipParts().encode(parts, (i) => KINDS[i], {}));
        assert.equal(gunzipSync(body).toString('utf8'), parts.join(''));
      }),
      fuzzParameters(100),
    );
  });

  it('keeps compressed pieces in buffers of their own size', () => {
    const gzip = new GzipParts();
    const cache: ProxyPieceCache = {};
    const parts = ['{"version":"1",', '"outbound":' + JSON.stringify({ services: ['a', 'b'] }), ',"identity":"spiffe://cluster.local/ns/default/sa/reviews"', '}'];
    const encoded = gzip.encode(parts, (i) => KINDS[i], cache);
    assert.ok(cache.gz);
    assert.equal(cache.gz.buffer.byteLength, cache.gz.byteLength, 'the proxy piece kept with the proxy');
    assert.equal(encoded[1].buffer.byteLength, encoded[1].byteLength, 'the shared piece kept in the cache');
  });
});
