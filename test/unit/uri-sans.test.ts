// The URI names of a certificate from Node's subjectaltname text, which is what the controller's
// API and the sidecars read a caller's SPIFFE ID from.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { uriSans } from '../../core/pki/spiffe.js';

const name = fc.stringMatching(/^[a-z0-9./:_-]{1,40}$/);

describe('uriSans', () => {
  it('returns the URI names, in order, and nothing else, whatever other names sit between them', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ kind: fc.constantFrom('URI', 'DNS', 'IP Address', 'email'), value: name })), (sans) => {
        const text = sans.map((s) => `${s.kind}:${s.value}`).join(', ');
        assert.deepEqual(
          uriSans(text),
          sans.filter((s) => s.kind === 'URI').map((s) => s.value),
        );
      }),
    );
  });

  it('has no names for a certificate without any', () => {
    assert.deepEqual(uriSans(undefined), []);
    assert.deepEqual(uriSans(''), []);
  });
});
