// The relay's HTTP/1.1 readers against Node's own parser (llhttp), on generated and mutated
// input: where the relay takes a request or response as its own, llhttp must read the same
// message ending at the same byte. A disagreement is a request-smuggling or response-splitting
// bug: one side would see a message the other does not. And no input throws out of a reader.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChunkedScanner } from '../../core/http1/chunked.js';
import { headerLine, readHeaderLine } from '../../core/http1/header-line.js';
import { HEADER_LINE, readRequestHead } from '../../core/http1/request-head.js';
import { readResponseHead } from '../../core/http1/response-head.js';
import { passedOnHeadText, responseHeadText, responseHeaderMap } from '../../core/http1/serialize.js';
import { llhttp } from '../helpers/llhttp.js';
import { fuzzParameters } from './fuzz-options.js';

const eol = fc.oneof({ weight: 8, arbitrary: fc.constant('\r\n') }, fc.constantFrom('\n', '\r', '\r\r\n', ' \r\n'));
const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS') },
  fc.constantFrom('get', 'G ET', 'GET\t', 'CONNECT', 'PRI', ''),
  fc.stringMatching(/^[!-~]{1,8}$/),
);
const target = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('/', '/a', '/admin', '/admin/x', '/a?b=c', '/%2e%2e/admin', '//admin', '/a%20b') },
  fc.constantFrom('*', 'http://x/y', '/a b', '/a\tb', '/\x7f', '/\x80', ''),
  fc.stringMatching(/^\/[!-~]{0,12}$/),
);
const version = fc.oneof({ weight: 8, arbitrary: fc.constant('HTTP/1.1') }, fc.constantFrom('HTTP/1.0', 'HTTP/1.10', 'http/1.1', 'HTTP/2.0', 'HTTP/1.1 ', 'HTTP/1'));
const contentLength = fc.constantFrom('0', '3', '5', '03', '+3', '3 ', ' 3', '3,3', '3, 3', '-1', '99999999999999999999', '', '0x3', '1_0');
const header: fc.Arbitrary<[string, string]> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom('Host', 'host', 'HOST'), fc.constantFrom('backend', 'backend:80', '', 'a b', 'x\x00y')) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('Content-Length', 'content-length', 'Content-Length ', 'Content_Length', ' Content-Length'), contentLength) },
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.constantFrom('Transfer-Encoding', 'transfer-encoding', 'Transfer-Encoding '),
      fc.constantFrom('chunked', 'Chunked', 'chunked, identity', 'identity', ' chunked', 'xchunked', 'gzip, chunked', 'chunked\x0b'),
    ),
  },
  fc.tuple(
    fc.constantFrom('Connection', 'Upgrade', 'Expect', 'X-A', 'x-jwt-payload'),
    fc.constantFrom('close', 'keep-alive', 'Upgrade', 'websocket', 'h2c', '100-continue', 'a\r\n b', 'a\rb', 'a\nb', ''),
  ),
  fc.tuple(fc.stringMatching(/^[!-~]{1,10}$/), fc.stringMatching(/^[ -~]{0,10}$/)),
);

/** A request as bytes: a plausible one, often bent out of shape, then maybe mutated byte-wise. */
const requestBytes = fc
  .record({
    method,
    target,
    version,
    headers: fc.array(header, { maxLength: 6 }),
    eol,
    body: fc.uint8Array({ maxLength: 12 }),
    next: fc.boolean(),
    mutations: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'delete')), { maxLength: 3 }),
  })
  .map(({ method, target, version, headers, eol, body, next, mutations }) => {
    const head = `${method} ${target} ${version}${eol}${headers.map(([n, v]) => `${n}: ${v}${eol}`).join('')}${eol}`;
    let buf = Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body), next ? Buffer.from('GET /second HTTP/1.1\r\nHost: backend\r\n\r\n') : Buffer.alloc(0)]);
    for (const [at, byte, kind] of mutations) {
      const i = buf.length === 0 ? 0 : at % buf.length;
      if (kind === 'flip') buf[i] = byte;
      else if (kind === 'insert') buf = Buffer.concat([buf.subarray(0, i), Buffer.from([byte]), buf.subarray(i)]);
      else buf = Buffer.concat([buf.subarray(0, i), buf.subarray(i + 1)]);
    }
    return buf;
  });

describe('HTTP/1.1 request heads: the relay and llhttp agree', () => {
  it('where the relay takes a request, llhttp reads the same request ending at the same byte', () => {
    fc.assert(
      fc.property(requestBytes, (buf) => {
        const r = readRequestHead(buf);
        if (r.kind !== 'head') return;
        const end = r.head.headLength + r.head.contentLength;
        if (end > buf.length) return; // the relay would wait for the rest of the body
        const ref = llhttp(buf.subarray(0, end));
        assert.equal(ref.error, undefined, `llhttp refuses what the relay took (${ref.error} at byte ${ref.errorAt}): ${JSON.stringify(buf.toString('latin1'))}`);
        const first = ref.messages[0];
        assert.ok(first, `llhttp saw no complete request in the bytes the relay took: ${JSON.stringify(buf.subarray(0, end).toString('latin1'))}`);
        assert.equal(first.end, end, 'the request ends at the same byte');
        assert.equal(first.method, r.head.method);
        assert.equal(first.url, r.head.target);
        assert.equal(first.upgrade, false);
        assert.equal(first.headers.length / 2, Object.keys(r.head.headers).length, 'the same headers');
        // HTTP's optional whitespace is spaces and tabs only (RFC 9110 5.6.3): String#trim would also take a 0xA0 (obs-text) byte.
        for (let i = 0; i < first.headers.length; i += 2) assert.equal(r.head.headers[first.headers[i].toLowerCase()], first.headers[i + 1].replace(/^[ \t]+|[ \t]+$/g, ''));
      }),
      fuzzParameters(),
    );
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          requestBytes,
          fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
        ),
        (buf) => {
          const r = readRequestHead(buf);
          assert.ok(['incomplete', 'head', 'other'].includes(r.kind));
        },
      ),
      fuzzParameters(),
    );
  });
});

/** A character of each class the header grammar treats apart: token, separator, whitespace, control, obs-text, upper case. */
const oddChar = fc.constantFrom('\r', '\n', '\0', '\x7f', '\x80', '\xa0', '\xff', '\x0b', '"', '(', '/', '@', ' ', '\t', ':');
const linePart = (common: string[]) => fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...common) }, oddChar), { maxLength: 6 }).map((p) => p.join(''));
/** Header lines as latin1 text, mostly name, colon, value, now and then bent by a character of another class. */
const headerText = fc
  .array(fc.tuple(linePart(['Host', 'x-a', 'Content-Length', 'A', 'z9', '~']), fc.constantFrom(':', ': ', ':\t', ' :', ''), linePart(['v', 'value', ' ', '\t', 'a b'])), { maxLength: 5 })
  .map((lines) => lines.map(([n, sep, v]) => `${n}${sep}${v}`).join('\r\n'))
  .map((text) => (text.includes('\r\n\r\n') ? text.slice(0, text.indexOf('\r\n\r\n')) : text));

describe('header lines: the scanner reads what the grammar as a regular expression reads', () => {
  it('takes and refuses the same lines, with the same name and value', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          headerText,
          requestBytes.map((b) => {
            const text = b.toString('latin1');
            const end = text.indexOf('\r\n\r\n');
            return text.slice(text.indexOf('\r\n') + 2, end === -1 ? text.length : end);
          }),
        ),
        (text) => {
          const line = headerLine();
          let at = 0;
          for (const expected of text.split('\r\n')) {
            const m = HEADER_LINE.exec(expected);
            const ok = readHeaderLine(text, at, text.length, line);
            assert.equal(ok, m !== null, `${JSON.stringify(expected)} in ${JSON.stringify(text)}`);
            at += expected.length + 2;
            if (!m) continue;
            assert.deepEqual([line.name, line.value], [m[1].toLowerCase(), m[2]]);
            assert.equal(line.next, Math.min(at, text.length), 'the next line starts after this one');
          }
        },
      ),
      fuzzParameters(),
    );
  });
});

const statusLine = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('HTTP/1.1 200 OK', 'HTTP/1.1 404 Not Found', 'HTTP/1.1 204 No Content', 'HTTP/1.1 304 Not Modified', 'HTTP/1.0 200 OK', 'HTTP/1.1 500 ') },
  fc.constantFrom('HTTP/1.1 200', 'HTTP/1.1 99 X', 'HTTP/1.1 1000 X', 'HTTP/1.1 200 O\x00K', 'HTTP/1.1 200 \x80', 'HTTP/2 200 OK', 'http/1.1 200 OK'),
);
const responseBytes = fc
  .record({
    status: statusLine,
    headers: fc.array(
      header.filter(([n]) => !/^host$/i.test(n)),
      { maxLength: 5 },
    ),
    eol,
    body: fc.uint8Array({ maxLength: 12 }),
  })
  .map(({ status, headers, eol, body }) => Buffer.concat([Buffer.from(`${status}${eol}${headers.map(([n, v]) => `${n}: ${v}${eol}`).join('')}${eol}`, 'latin1'), Buffer.from(body)]));

describe('HTTP/1.1 response heads: the relay and llhttp agree', () => {
  it('where the relay reads a response head, llhttp reads it too, with the same framing', () => {
    fc.assert(
      fc.property(responseBytes, fc.boolean(), (buf, headRequest) => {
        const r = readResponseHead(buf, headRequest);
        if (r.kind !== 'head') return;
        const ref = llhttp(buf.subarray(0, r.head.headLength), 'response', headRequest);
        assert.ok(
          ref.error === undefined || (ref.errorAt ?? 0) >= r.head.headLength,
          `llhttp refuses a head the relay took (${ref.error} at byte ${ref.errorAt}): ${JSON.stringify(buf.subarray(0, r.head.headLength).toString('latin1'))}`,
        );
        const f = r.head.framing;
        if (f.type === 'length' || f.type === 'none') {
          const end = r.head.headLength + (f.type === 'length' ? f.length : 0);
          if (end > buf.length) return;
          const whole = llhttp(buf.subarray(0, end), 'response', headRequest);
          assert.equal(whole.messages[0]?.end, end, `the response ends at the same byte: ${JSON.stringify(buf.toString('latin1'))}`);
        }
      }),
      fuzzParameters(),
    );
  });
});

/** Response heads with names that repeat, in any case, among connection-scoped ones. */
const repeatingHead = fc
  .record({
    status: fc.constantFrom('200 OK', '201 Created', '404 ', '500 Oops'),
    headers: fc.array(
      fc.tuple(
        fc.constantFrom('Set-Cookie', 'set-cookie', 'X-A', 'x-a', 'Connection', 'Keep-Alive', 'TE', 'Vary', '__proto__', 'constructor', '0', '12', '1x'),
        fc.constantFrom('1', 'a=b', 'keep-alive', 'close', ''),
      ),
      { maxLength: 7 },
    ),
    framing: fc.constantFrom('content-length: 0\r\n', 'transfer-encoding: chunked\r\n', ''),
  })
  .map(({ status, headers, framing }) => Buffer.from(`HTTP/1.1 ${status}\r\n${framing}${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`, 'latin1'));

describe('response heads passed on without a map', () => {
  it('are written exactly as from the map the header rules edit, when there are no rules', () => {
    fc.assert(
      fc.property(fc.oneof(responseBytes, repeatingHead), fc.boolean(), fc.boolean(), (buf, headRequest, close) => {
        const r = readResponseHead(buf, headRequest);
        if (r.kind !== 'head') return;
        assert.equal(passedOnHeadText(r.head, close), responseHeadText(r.head, responseHeaderMap(r.head), close));
      }),
      fuzzParameters(),
    );
  });
});

const chunkSize = (n: number) => fc.constantFrom(n.toString(16), n.toString(16).toUpperCase(), `0${n.toString(16)}`, `${n.toString(16)};ext=1`, `${n.toString(16)} `, `${n.toString(16)};`);
const chunkedBody = fc
  .array(fc.integer({ min: 1, max: 20 }), { maxLength: 4 })
  .chain((sizes) => fc.tuple(fc.tuple(...sizes.map(chunkSize)), fc.constantFrom('', 'Trailer-A: 1\r\n', 'X: y\r\nZ: w\r\n'), fc.constant(sizes)))
  .map(([sizeTexts, trailer, sizes]) => Buffer.from(`${sizes.map((n, i) => `${sizeTexts[i]}\r\n${'x'.repeat(n)}\r\n`).join('')}0\r\n${trailer}\r\n`, 'latin1'));

describe('chunked bodies: the relay and llhttp agree where they end', () => {
  const head = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');

  it('ends where llhttp ends, however the bytes are split into reads', () => {
    fc.assert(
      fc.property(chunkedBody, fc.array(fc.nat(), { maxLength: 4 }), fc.uint8Array({ maxLength: 6 }), (body, cuts, after) => {
        const buf = Buffer.concat([head, body, Buffer.from(after)]);
        const ref = llhttp(buf, 'response');
        const scanner = new ChunkedScanner();
        const points = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
        let end = -1;
        let from = 0;
        for (const to of [...points, body.length + after.length]) {
          const piece = buf.subarray(head.length + from, head.length + to);
          const at = scanner.scan(piece);
          if (at !== -1) {
            end = head.length + from + at;
            break;
          }
          from = to;
        }
        if (ref.error !== undefined && (ref.errorAt ?? 0) < head.length + body.length) {
          assert.ok(scanner.error !== undefined || end === -1, `the relay accepts a chunked body llhttp refuses (${ref.error}): ${JSON.stringify(body.toString('latin1'))}`);
          return;
        }
        assert.equal(scanner.error, undefined, `the relay refuses a chunked body llhttp reads: ${JSON.stringify(body.toString('latin1'))}`);
        assert.equal(end, ref.messages[0]?.end, `the body ends at the same byte: ${JSON.stringify(body.toString('latin1'))}`);
      }),
      fuzzParameters(),
    );
  });

  it('never throws on mutated or random bytes, and never ends a body llhttp finds broken', () => {
    fc.assert(
      fc.property(chunkedBody, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), (body, flips) => {
        const b = Buffer.from(body);
        for (const [at, byte] of flips) b[at % b.length] = byte;
        const scanner = new ChunkedScanner();
        const at = scanner.scan(b);
        if (at === -1 || scanner.error) return;
        const ref = llhttp(Buffer.concat([head, b.subarray(0, at)]), 'response');
        assert.equal(ref.error, undefined, `the relay ends a body llhttp refuses (${ref.error}): ${JSON.stringify(b.toString('latin1'))}`);
        assert.equal(ref.messages[0]?.end, head.length + at, `and at the same byte: ${JSON.stringify(b.toString('latin1'))}`);
      }),
      fuzzParameters(),
    );
  });
});
