// Without --consul-agent, a host's instances are held by the Consul agent of the controller that
// registered them; when that controller's host is lost they go critical although the workloads
// run. The watch asks every few seconds which controller answers for this host now (the one its
// registrations went through, or the next, when that one cannot be reached) and says so when it
// has moved, so that the agent registers everything again at once rather than at its next resync.

export interface RegistrationHolderOptions {
  /** Which controller answers now; rejects when none does. */
  probe(timeoutMs: number): Promise<string>;
  /** Registrations made through `from` may be gone: make them again (they now go through `to`). */
  moved(from: string, to: string): void;
  intervalMs: number;
  /** A controller whose host went silent is left after this long. */
  timeoutMs: number;
  /** The controller the registrations went through, when known: a first look that finds another one is a move. */
  holder?: string;
}

export class RegistrationHolderWatch {
  private timer: NodeJS.Timeout | undefined;
  private holder: string | undefined;
  private checking = false;
  private closed = false;

  constructor(private readonly o: RegistrationHolderOptions) {
    if (!(o.intervalMs > 0) || !(o.timeoutMs > 0)) throw new RangeError(`intervalMs and timeoutMs must be positive, got ${o.intervalMs} and ${o.timeoutMs}`);
    this.holder = o.holder;
  }

  /** Looks now (after the agent's first registrations: without `holder`, the controller that answers holds them), then every interval. */
  start(): Promise<void> {
    this.timer = setInterval(() => void this.check(), this.o.intervalMs);
    this.timer.unref();
    return this.check();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  /** One look (the interval's, or a test's); a look still waiting for its answer is not doubled. */
  async check(): Promise<void> {
    if (this.checking || this.closed) return;
    this.checking = true;
    try {
      const now = await this.o.probe(this.o.timeoutMs);
      const before = this.holder;
      this.holder = now;
      if (before !== undefined && now !== before && !this.closed) this.o.moved(before, now);
    } catch {
      // No controller answers: nothing can be registered anywhere; the next look tries again.
    } finally {
      this.checking = false;
    }
  }
}
