// A caller's request body on the outbound frame relay, as replayable-body.ts is on Node's path:
// passed to the current attempt's upstream stream as it arrives, and kept up to a limit so that
// a retry or a mirror can send it again (RetryBuffer). The caller's window is given back
// (`credit`) only for bytes that have gone upstream: between attempts, or while the upstream
// has no window, the caller is held back by flow control and nothing is lost.
import type { HeaderField } from '../../core/h2/hpack.js';
import { RetryBuffer } from '../retry-buffer.js';
import type { ClientLink } from './client-links.js';

export class FrameBody {
  private readonly kept: RetryBuffer;
  /** Chunks that came while no attempt was open (all of them until the first one is). */
  private unsent: Buffer[] = [];
  /** The caller ended its body (after trailers, when it sent some). */
  private ended = false;
  private trailers: HeaderField[] | undefined;
  private target: { link: ClientLink; id: number } | undefined;
  /** Bytes taken from the caller and not yet given back as window. */
  private held = 0;
  /** Bytes the caller has sent. */
  bytes = 0;

  constructor(
    private readonly credit: (bytes: number) => void,
    limit: number,
  ) {
    this.kept = new RetryBuffer(limit);
  }

  /** The body is complete and empty: the request's head can end the stream. */
  get empty(): boolean {
    return this.ended && this.bytes === 0 && !this.trailers;
  }

  /** The whole body so far is still kept: another attempt can be made. */
  get replayable(): boolean {
    return this.kept.replayable;
  }

  /** The whole body once the caller has sent it; undefined when it was too large to keep or cut off. */
  whole(): Promise<Buffer | undefined> {
    return this.kept.whole();
  }

  /** A chunk from the caller, and whether it ends the body. */
  take(chunk: Buffer, end: boolean): void {
    this.bytes += chunk.length;
    this.kept.keep(chunk);
    if (end) this.end();
    const to = this.target;
    if (!to) this.unsent.push(chunk);
    if (to && to.link.send(to.id, chunk, end)) this.credit(chunk.length);
    else this.held += chunk.length;
  }

  /** The caller's trailers: they end the body. */
  takeTrailers(fields: HeaderField[]): void {
    this.trailers = fields;
    this.end();
    if (this.target) this.target.link.trailers(this.target.id, fields);
  }

  /** The caller went: whoever waits for the whole body gets nothing. */
  cutOff(): void {
    this.kept.cutOff();
  }

  /** Sends what was kept to a new attempt's stream (opened with the request's head), then what is still to come. */
  sendTo(link: ClientLink, id: number): void {
    this.target = { link, id };
    // What was kept is all there was; a body too large to keep can only be on its first attempt.
    const chunks = this.kept.kept ?? this.unsent;
    this.unsent = [];
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const endNow = this.ended && !this.trailers;
    if ((body.length > 0 || endNow) && !link.send(id, body, endNow)) return;
    if (this.trailers) link.trailers(id, this.trailers);
    this.writable();
  }

  /** The current attempt's stream took what was queued: the caller gets its window back. */
  writable(): void {
    if (this.held === 0 || !this.target || this.target.link.link.backlogged) return;
    this.credit(this.held);
    this.held = 0;
  }

  /** The attempt is given up: the caller waits for the next one. */
  release(link: ClientLink, id: number): void {
    if (this.target?.link === link && this.target.id === id) this.target = undefined;
  }

  /** The call is over: the caller's connection gets back every byte it was not credited for. */
  finish(): void {
    this.target = undefined;
    this.unsent = [];
    if (this.held > 0) this.credit(this.held);
    this.held = 0;
    this.kept.cutOff();
  }

  private end(): void {
    this.ended = true;
    this.kept.end();
  }
}
