// Finds the end of a chunked body (RFC 9112 7.1) as its bytes pass by, without copying them:
// the relay forwards the chunks untouched and only needs to know where the message ends.

import { TOKEN } from './header-line.js';
import { HEADER_LINE } from './request-head.js';

const MAX_TRAILER_BYTES = 16 * 1024;
/** qdtext (RFC 9110 5.6.4), by byte. */
const QDTEXT = new Uint8Array(256);
QDTEXT[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) if (c !== 0x22 && c !== 0x5c) QDTEXT[c] = 1;
for (let c = 0x80; c <= 0xff; c++) QDTEXT[c] = 1;

const enum State {
  Size,
  /** After ';': an extension name must follow (RFC 9112 7.1.1; no whitespace, as llhttp in strict mode). */
  ExtName,
  ExtNameMore,
  ExtValueStart,
  ExtValueToken,
  ExtQuoted,
  ExtQuotedEscape,
  ExtQuotedEnd,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerLineStart,
  TrailerLine,
  TrailerLf,
  FinalLf,
  Done,
}

export class ChunkedScanner {
  private state = State.Size;
  private size = 0;
  private digits = 0;
  private remaining = 0;
  private trailer: number[] = [];
  private trailerBytes = 0;
  /** Set when the framing is broken; the connection can then only be closed. */
  error: string | undefined;

  get done(): boolean {
    return this.state === State.Done;
  }

  /**
   * Reads `buf` from `start`; returns the index just past the end of the body when it ends in
   * this buffer, or -1 (more is needed, or `error` is set).
   */
  scan(buf: Buffer, start = 0): number {
    let i = start;
    while (i < buf.length) {
      switch (this.state) {
        case State.Size: {
          const c = buf[i];
          const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (v >= 0) {
            if (++this.digits > 12) return this.fail('chunk size too large');
            this.size = this.size * 16 + v;
            i++;
          } else if (this.digits === 0) return this.fail('chunk size expected');
          else if (c === 0x0d) {
            this.state = State.SizeLf;
            i++;
          } else if (c === 0x3b) {
            this.state = State.ExtName;
            i++;
          } else return this.fail('bad chunk size line');
          break;
        }
        // Extensions are passed on untouched, but only in their strict form: a reader that took
        // looser ones would disagree with Node's parser about where the body ends.
        case State.ExtName:
          if (!TOKEN[buf[i]]) return this.fail('bad chunk extension');
          this.state = State.ExtNameMore;
          i++;
          break;
        case State.ExtNameMore: {
          const c = buf[i++];
          if (c === 0x0d) this.state = State.SizeLf;
          else if (c === 0x3b) this.state = State.ExtName;
          else if (c === 0x3d) this.state = State.ExtValueStart;
          else if (!TOKEN[c]) return this.fail('bad chunk extension');
          break;
        }
        case State.ExtValueStart: {
          const c = buf[i++];
          if (c === 0x22) this.state = State.ExtQuoted;
          else if (TOKEN[c]) this.state = State.ExtValueToken;
          else return this.fail('bad chunk extension value');
          break;
        }
        case State.ExtValueToken: {
          const c = buf[i++];
          if (c === 0x0d) this.state = State.SizeLf;
          else if (c === 0x3b) this.state = State.ExtName;
          else if (!TOKEN[c]) return this.fail('bad chunk extension value');
          break;
        }
        case State.ExtQuoted: {
          const c = buf[i++];
          if (c === 0x22) this.state = State.ExtQuotedEnd;
          else if (c === 0x5c) this.state = State.ExtQuotedEscape;
          else if (!QDTEXT[c]) return this.fail('bad chunk extension value');
          break;
        }
        case State.ExtQuotedEscape:
          if (!QDTEXT[buf[i++]]) return this.fail('bad chunk extension value');
          this.state = State.ExtQuoted;
          break;
        case State.ExtQuotedEnd: {
          const c = buf[i++];
          if (c === 0x0d) this.state = State.SizeLf;
          else if (c === 0x3b) this.state = State.ExtName;
          else return this.fail('bad chunk extension value');
          break;
        }
        case State.SizeLf:
          if (buf[i++] !== 0x0a) return this.fail('bare CR in chunk size line');
          if (this.size === 0) this.state = State.TrailerLineStart;
          else {
            this.remaining = this.size;
            this.state = State.Data;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case State.Data: {
          const take = Math.min(this.remaining, buf.length - i);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = State.DataCr;
          break;
        }
        case State.DataCr:
          if (buf[i++] !== 0x0d) return this.fail('chunk data longer than its size');
          this.state = State.DataLf;
          break;
        case State.DataLf:
          if (buf[i++] !== 0x0a) return this.fail('bare CR after chunk data');
          this.state = State.Size;
          break;
        case State.TrailerLineStart:
          if (buf[i] === 0x0d) {
            this.state = State.FinalLf;
            i++;
          } else {
            this.trailer = [];
            this.state = State.TrailerLine;
          }
          break;
        case State.TrailerLine: {
          // Trailer lines are header lines and are checked as such (kept only until checked).
          const c = buf[i++];
          if (c === 0x0d) {
            if (!HEADER_LINE.test(Buffer.from(this.trailer).toString('latin1'))) return this.fail('malformed trailer line');
            this.state = State.TrailerLf;
          } else if ((this.trailerBytes += 1) > MAX_TRAILER_BYTES) return this.fail('trailers too large');
          else this.trailer.push(c);
          break;
        }
        case State.TrailerLf:
          if (buf[i++] !== 0x0a) return this.fail('bare CR in trailer');
          this.state = State.TrailerLineStart;
          break;
        case State.FinalLf:
          if (buf[i++] !== 0x0a) return this.fail('bare CR at the end of the body');
          this.state = State.Done;
          return i;
        case State.Done:
          return i;
      }
    }
    return -1;
  }

  private fail(reason: string): number {
    this.error = reason;
    return -1;
  }
}
