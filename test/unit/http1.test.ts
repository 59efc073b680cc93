// The relay's readers: what the strict request reader takes and what it leaves to Node's
// parser, how response bodies are framed, and where a chunked body ends however it is split.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChunkedScanner } from '../../core/http1/chunked.js';
import { readRequestHead } from '../../core/http1/request-head.js';
import { readResponseHead } from '../../core/http1/response-head.js';
import { responseHeadText, responseHeaderMap } from '../../core/http1/serialize.js';

const b = (s: string) => Buffer.from(s, 'latin1');

/** Header names: tokens, often those of Object.prototype's properties, which a plain object would misread. */
const PROTO_NAMES = ['constructor', '__proto__', 'tostring', 'valueof', 'hasownproperty', 'isprototypeof', '__definegetter__'];
const headerName = fc.oneof(fc.constantFrom(...PROTO_NAMES), fc.stringMatching(/^x-[a-z0-9-]{1,12}$/));
const headerValue = fc.stringMatching(/^[!-~]([ !-~]{0,20}[!-~])?$/);

describe('strict request head reader', () => {
  it('takes a plain request with its body length and connection intent', () => {
    const r = readRequestHead(b('POST /a?b=1 HTTP/1.1\r\nHost: shop\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc'));
    assert.equal(r.kind, 'head');
    if (r.kind !== 'head') return;
    assert.equal(r.head.method, 'POST');
    assert.equal(r.head.target, '/a?b=1');
    assert.equal(r.head.headers.host, 'shop');
    assert.equal(r.head.contentLength, 3);
    assert.equal(r.head.keepAlive, false);
    assert.equal(r.head.headLength, 74, 'the head ends after its blank line; the body follows');
  });

  it('waits for the rest of a head', () => {
    assert.equal(readRequestHead(b('GET / HTTP/1.1\r\nHost: x\r\n')).kind, 'incomplete');
  });

  it('leaves every ambiguous or unusual shape to the full parser', () => {
    const other = [
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', // CL + TE
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n', // repeated CL
      'GET / HTTP/1.1\r\nHost : x\r\n\r\n', // space before colon
      'GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n', // obs-fold
      'GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n', // bare CR
      'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n', // NUL
      'GET / HTTP/1.0\r\nHost: x\r\n\r\n', // HTTP/1.0
      'GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n', // absolute form
      'GET / HTTP/1.1\r\n\r\n', // no Host
      'GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n', // two Hosts
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    ];
    for (const text of other) assert.equal(readRequestHead(b(text)).kind, 'other', JSON.stringify(text.slice(0, 60)));
    assert.equal(readRequestHead(b(`GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}`)).kind, 'other', 'an endless head is not waited for');
  });
});

describe('header names that are also property names', () => {
  it('a request head keeps each header as sent, whatever its name', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(headerName, headerValue), { selector: ([n]) => n, maxLength: 8 }), (pairs) => {
        const r = readRequestHead(b(`GET / HTTP/1.1\r\nHost: x\r\n${pairs.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`));
        assert.equal(r.kind, 'head', 'not taken for a repeated header');
        if (r.kind !== 'head') return;
        assert.deepEqual(Object.entries(r.head.headers), [['host', 'x'], ...pairs]);
      }),
    );
  });

  it('a response head passes each header on as sent, and repeated ones each once', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(headerName, headerValue), { maxLength: 8 }), (pairs) => {
        const r = readResponseHead(b(`HTTP/1.1 200 OK\r\ncontent-length: 0\r\n${pairs.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`), false);
        assert.equal(r.kind, 'head');
        if (r.kind !== 'head') return;
        const expected = ['content-length: 0', ...pairs.map(([n, v]) => `${n}: ${v}`)];
        const text = responseHeadText(r.head, responseHeaderMap(r.head), false);
        assert.deepEqual(text.split('\r\n').slice(1, -2).sort(), expected.sort());
      }),
    );
  });
});

describe('response head reader', () => {
  const framing = (text: string, head = false) => {
    const r = readResponseHead(b(text), head);
    return r.kind === 'head' ? r.head.framing : r.kind;
  };
  it('frames bodies by length, chunks, connection close, or not at all', () => {
    assert.deepEqual(framing('HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n'), { type: 'length', length: 12 });
    assert.deepEqual(framing('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n'), { type: 'chunked' });
    assert.deepEqual(framing('HTTP/1.1 200 OK\r\n\r\n'), { type: 'close' });
    assert.deepEqual(framing('HTTP/1.1 204 No Content\r\ncontent-length: 12\r\n\r\n'), { type: 'none' });
    assert.deepEqual(framing('HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n', true), { type: 'none' }, 'the answer to HEAD');
  });
  it('refuses what it cannot frame for sure', () => {
    assert.equal(framing('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n'), 'invalid');
    // Found by test/fuzz/http1-readers.test.ts: Node's parser refuses these, so the relay does too.
    assert.equal(framing('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\n'), 'invalid');
    assert.equal(framing('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 12\r\n\r\n'), 'invalid');
    assert.equal(framing('HTTP/1.1 200 OK\r\nx-a: 1\rx-b: 2\r\n\r\n'), 'invalid');
    assert.equal(framing('HTTP/1.1 OK\r\n\r\n'), 'invalid');
  });
  it('passes end-to-end headers on and drops the connection-scoped ones', () => {
    const r = readResponseHead(b('HTTP/1.1 201 Created\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n'), false);
    assert.equal(r.kind, 'head');
    if (r.kind !== 'head') return;
    assert.equal(responseHeadText(r.head, responseHeaderMap(r.head), true), 'HTTP/1.1 201 Created\r\nset-cookie: a=1\r\nset-cookie: b=2\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n');
  });
});

describe('chunked body scanner', () => {
  const body = b('5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\nNEXT');
  it('finds the end of the body, whatever the split', () => {
    for (let cut = 1; cut < body.length - 4; cut++) {
      const s = new ChunkedScanner();
      assert.equal(s.scan(body.subarray(0, cut)), -1, `split at ${cut}`);
      const at = s.scan(body.subarray(cut));
      assert.equal(at + cut, body.length - 4, `split at ${cut}`);
      assert.equal(s.error, undefined);
    }
  });
  it('stops at broken framing', () => {
    const s = new ChunkedScanner();
    assert.equal(s.scan(b('5\r\nhello!!\r\n0\r\n\r\n')), -1);
    assert.match(s.error ?? '', /longer than its size/);
    const t = new ChunkedScanner();
    t.scan(b('zz\r\n'));
    assert.match(t.error ?? '', /size/);
  });
});
