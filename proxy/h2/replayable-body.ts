// A caller's HTTP/2 request body, streamed to the current attempt as it arrives and kept, up to a
// limit, so that a retry can send it again (Envoy's retry buffer does the same). Nothing is held
// back to fill the buffer: a bidirectional gRPC stream flows at once; a body larger than the
// limit only loses its retries. Between attempts the caller's stream is paused, so no byte is lost.
import type { ClientHttp2Stream, ServerHttp2Stream } from 'node:http2';

export class ReplayableBody {
  /** Every byte so far, while they fit the limit; undefined once they did not. */
  private kept: Buffer[] | undefined = [];
  private keptBytes = 0;
  private ended = false;
  private target: ClientHttp2Stream | undefined;
  /** Waiting for the whole body (mirrors): told once it is complete, or cannot be had. */
  private waiting: ((body: Buffer | undefined) => void)[] = [];
  /** Bytes the caller has sent. */
  bytes = 0;

  constructor(
    private readonly from: ServerHttp2Stream,
    private readonly limit: number,
  ) {
    from.on('data', (chunk: Buffer) => this.take(chunk));
    from.pause();
    // Node ends the readable side of a stream the caller reset before it reports the reset, so
    // the end is only passed on once the same turn of the event loop has shown it was clean.
    from.once('end', () =>
      setImmediate(() => {
        if (from.aborted || from.rstCode) return this.tell(undefined);
        this.ended = true;
        if (this.target && !this.target.destroyed) this.target.end();
        this.tell(this.kept && Buffer.concat(this.kept));
      }),
    );
    from.once('close', () => this.tell(undefined));
  }

  /** The whole body once the caller has sent it; undefined when it was too large to keep or cut off. */
  whole(): Promise<Buffer | undefined> {
    if (this.ended || !this.kept) return Promise.resolve(this.ended && this.kept ? Buffer.concat(this.kept) : undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private tell(body: Buffer | undefined): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve(body);
  }

  /** The whole body so far is still kept: another attempt can be made. */
  get replayable(): boolean {
    return this.kept !== undefined;
  }

  /** Sends what was kept to a new attempt's stream, then what is still to come. */
  sendTo(up: ClientHttp2Stream): void {
    this.target = up;
    for (const chunk of this.kept ?? []) up.write(chunk);
    if (this.ended) up.end();
    else this.from.resume();
  }

  /** The attempt is given up: the caller's stream waits for the next one. */
  release(up: ClientHttp2Stream): void {
    if (this.target !== up) return;
    this.target = undefined;
    this.from.pause();
  }

  private take(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.kept) {
      this.keptBytes += chunk.length;
      if (this.keptBytes <= this.limit) this.kept.push(chunk);
      else {
        this.kept = undefined;
        this.tell(undefined);
      }
    }
    const to = this.target;
    if (to && !to.destroyed && !to.write(chunk)) {
      this.from.pause();
      to.once('drain', () => {
        if (this.target === to) this.from.resume();
      });
    }
  }
}
