// Finds the end of a chunked body (RFC 9112 7.1) as its bytes pass by, without copying them:
// the relay forwards the chunks untouched and only needs to know where the message ends.

const enum State {
  Size,
  Extension,
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
          } else if (c === 0x3b || c === 0x20 || c === 0x09) {
            this.state = State.Extension;
            i++;
          } else return this.fail('bad chunk size line');
          break;
        }
        case State.Extension:
          // Extensions are passed on untouched; only their end matters.
          if (buf[i] === 0x0d) this.state = State.SizeLf;
          else if (buf[i] === 0x0a || buf[i] === 0) return this.fail('bad chunk extension');
          i++;
          break;
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
          if (buf[i] === 0x0d) this.state = State.FinalLf;
          else this.state = State.TrailerLine;
          i++;
          break;
        case State.TrailerLine:
          if (buf[i] === 0x0d) this.state = State.TrailerLf;
          else if (buf[i] === 0x0a) return this.fail('bare LF in trailer');
          i++;
          break;
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
