// A request body kept, up to a limit, for what may send it again: a retry, a mirror (Envoy's
// retry buffer). Past the limit nothing more is kept and the body is no longer replayable; the
// bytes still flow to the current attempt, which is the body codecs' business
// (h2/replayable-body.ts on Node's path, h2/frame-body.ts on the frame relay).
export class RetryBuffer {
  /** Every chunk so far, while they fit the limit; undefined once they did not. */
  private chunks: Buffer[] | undefined = [];
  private size = 0;
  private complete = false;
  /** Cut off before it was complete: it never will be. */
  private cut = false;
  /** Waiting for the whole body (mirrors): told once it is complete, or cannot be had. */
  private waiting: ((body: Buffer | undefined) => void)[] = [];

  constructor(private readonly limit: number) {}

  /** The whole body so far is kept: another attempt can be made. */
  get replayable(): boolean {
    return this.chunks !== undefined;
  }

  /** The chunks kept so far; undefined once the body outgrew the limit. */
  get kept(): readonly Buffer[] | undefined {
    return this.chunks;
  }

  keep(chunk: Buffer): void {
    if (!this.chunks) return;
    this.size += chunk.length;
    if (this.size <= this.limit) this.chunks.push(chunk);
    else {
      this.chunks = undefined;
      this.tell(undefined);
    }
  }

  /** The caller sent its whole body: whoever waits for it gets it, if it was kept. */
  end(): void {
    this.complete = true;
    this.tell(this.chunks && Buffer.concat(this.chunks));
  }

  /** The body will never be whole (the caller went, or the call is over); a body already whole stays so. */
  cutOff(): void {
    if (this.complete) return;
    this.cut = true;
    this.tell(undefined);
  }

  /** The whole body once the caller has sent it; undefined when it was too large to keep or cut off. */
  whole(): Promise<Buffer | undefined> {
    // Asked after a cut-off: nothing will ever tell, so the answer is now.
    if (this.complete || this.cut || !this.chunks) return Promise.resolve(this.complete && this.chunks ? Buffer.concat(this.chunks) : undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private tell(body: Buffer | undefined): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve(body);
  }
}
