// Tells whether Consul answers, by asking for its leader every few seconds; an answer that takes
// longer than the probe's timeout counts as none (a Consul that hangs, rather than refuses, is
// down too); it alone decides, and a failed watch or request only makes it ask at once. The
// catalog and KV watches use it to report health, and to restart their blocking queries when
// Consul comes back: a Consul that lost its state answers old indexes only after the full wait,
// which would leave the controller blind for that long.
import { EventEmitter } from 'node:events';
import type Consul from 'consul';

export class ConsulLiveness extends EventEmitter {
  private timer: NodeJS.Timeout | undefined;
  private up = true;
  private probing = false;

  constructor(
    private readonly consul: Consul,
    private readonly everyMs = 2000,
    private readonly timeoutMs = 2000,
  ) {
    super();
    this.setMaxListeners(0);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.probe(), this.everyMs);
    this.timer.unref();
  }

  healthy(): boolean {
    return this.up;
  }

  /**
   * Called when a watch or a request failed: Consul is asked now rather than at the next interval, and marked
   * down only if it does not answer. One of a thousand blocking queries failing (a connection
   * reset, its client's timer firing while the controller was busy) is no reason to restart them
   * all, which a "down" followed by an "up" does.
   */
  suspect(): void {
    if (this.timer) void this.probe();
  }

  private markDown(): void {
    if (!this.up) return;
    this.up = false;
    this.emit('down');
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.removeAllListeners();
  }

  private async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<never>((_, reject) => {
        // Decided after this turn's I/O is read (setImmediate runs after the poll phase): when the
        // controller's own event loop stalled past the timeout (thousands of proxies' snapshots
        // compiled, a long GC), the answer that came meanwhile is taken first. A timer alone
        // fires before that I/O, and Consul was marked down for the controller's own pause, each
        // time restarting every watch and adding to the load that caused it.
        timer = setTimeout(() => setImmediate(() => reject(new Error(`Consul did not answer within ${this.timeoutMs} ms`))), this.timeoutMs);
      });
      // The request's own timeout ends a hung connection, so that hung probes do not pile up; it
      // is longer than the probe's, for its timer would fire before a stalled loop's I/O too.
      const leader = await Promise.race([this.consul.status.leader({ timeout: Math.max(10_000, 5 * this.timeoutMs) } as never), hung]).finally(() => clearTimeout(timer));
      const ok = Boolean(leader);
      if (ok !== this.up) {
        this.up = ok;
        this.emit(ok ? 'up' : 'down');
      }
    } catch {
      this.markDown();
    } finally {
      this.probing = false;
    }
  }
}
