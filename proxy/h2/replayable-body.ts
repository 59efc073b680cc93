// A caller's HTTP/2 request body, streamed to the current attempt as it arrives and kept, up to a
// limit, so that a retry can send it again (Envoy's retry buffer does the same). Nothing is held
// back to fill the buffer: a bidirectional gRPC stream flows at once; a body larger than the
// limit only loses its retries. Between attempts the caller's stream is paused, so no byte is lost.
import type { ClientHttp2Stream, ServerHttp2Stream } from 'node:http2';
import { RetryBuffer } from '../retry-buffer.js';

export class ReplayableBody {
  private readonly kept: RetryBuffer;
  private ended = false;
  private target: ClientHttp2Stream | undefined;
  /** Bytes the caller has sent. */
  bytes = 0;

  constructor(
    private readonly from: ServerHttp2Stream,
    limit: number,
  ) {
    this.kept = new RetryBuffer(limit);
    from.on('data', (chunk: Buffer) => this.take(chunk));
    from.pause();
    // Node ends the readable side of a stream the caller reset before it reports the reset, so
    // the end is only passed on once the same turn of the event loop has shown it was clean.
    from.once('end', () =>
      setImmediate(() => {
        if (from.aborted || from.rstCode) return this.kept.cutOff();
        this.ended = true;
        if (this.target && !this.target.destroyed) this.target.end();
        this.kept.end();
      }),
    );
    from.once('close', () => this.kept.cutOff());
  }

  /** The whole body once the caller has sent it; undefined when it was too large to keep or cut off. */
  whole(): Promise<Buffer | undefined> {
    return this.kept.whole();
  }

  /** The whole body so far is still kept: another attempt can be made. */
  get replayable(): boolean {
    return this.kept.replayable;
  }

  /** Sends what was kept to a new attempt's stream, then what is still to come. */
  sendTo(up: ClientHttp2Stream): void {
    this.target = up;
    for (const chunk of this.kept.kept ?? []) up.write(chunk);
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
    this.kept.keep(chunk);
    const to = this.target;
    if (to && !to.destroyed && !to.write(chunk)) {
      this.from.pause();
      to.once('drain', () => {
        if (this.target === to) this.from.resume();
      });
    }
  }
}
