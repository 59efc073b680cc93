// When a proxy says it applied a snapshot. At once, each acknowledgement lands at the controller
// while it is still writing the same change to the other proxies: a TLS read, an HTTP body chunk
// and an event per proxy, interleaved with the push (at 10,000 proxies on two cores, proxies that
// sent none made a change cost the machine about a quarter less and reach every proxy about a
// quarter sooner, docs/scaling.md). A moment later, the push is done before they come, and a
// burst of changes is acknowledged once, naming the newest.
// Nothing waits on an acknowledgement but `meshctl proxy-status` (SYNCED): it says so that much
// later. A refused snapshot is not acknowledged at all (the proxy opens a new stream naming what
// it holds), so a refusal is not delayed.

/** How long after it applied a snapshot a proxy says so, at most. */
export const ACK_DELAY_MS = 1000;

export class DeferredAck {
  private pending: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** `send`: writes one acknowledgement. `delayMs` 0: each one at once. */
  constructor(
    private readonly send: (version: string) => void,
    private readonly delayMs: number = ACK_DELAY_MS,
  ) {
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`an acknowledgement delay is a number of milliseconds, 0 or more, not ${delayMs}`);
  }

  /**
   * `version` is applied: said `delayMs` after the first snapshot applied since the last
   * acknowledgement (not pushed back by later ones, so that steady changes are still
   * acknowledged), naming the newest.
   */
  applied(version: string): void {
    if (this.delayMs === 0) return this.send(version);
    this.pending = version;
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.delayMs);
    // A pending acknowledgement does not keep a stopping process alive.
    this.timer.unref?.();
  }

  /** Sends what is pending now, if anything. */
  flush(): void {
    const version = this.pending;
    this.cancel();
    if (version !== undefined) this.send(version);
  }

  /** Drops what is pending: the stream is gone, and the next one names the version held (which the controller takes as its acknowledgement). */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }
}
