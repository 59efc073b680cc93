// Leader election as Consul documents it: each controller holds a session (TTL, renewed) and tries
// to acquire one lock key with it; the holder leads. A controller that stops releases the lock at
// once; one that dies loses it when its session expires (its TTL, at most twice that in Consul),
// and the next try of another controller takes it. No lock delay: nothing here is harmed by two
// leaders for a moment (the jobs write through compare-and-set).
import type Consul from 'consul';
import type { Leadership } from './leadership.js';

const SESSION_TTL = '10s';
const TRY_EVERY_MS = 2000;

export class ConsulLeadership implements Leadership {
  private session: string | undefined;
  private leader = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly consul: Consul,
    private readonly key: string,
    private readonly id: string,
    private readonly onChange: (leader: boolean, err?: unknown) => void,
  ) {}

  start(): void {
    const tick = () => {
      this.running = this.step().finally(() => {
        if (!this.closed) this.timer = setTimeout(tick, TRY_EVERY_MS);
        this.timer?.unref();
      });
    };
    tick();
  }

  isLeader(): boolean {
    return this.leader;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
    const session = this.session;
    this.set(false);
    if (!session) return;
    await this.consul.kv.set({ key: this.key, value: this.id, release: session }).catch(() => undefined);
    await this.consul.session.destroy(session).catch(() => undefined);
  }

  /** Renews (or makes) the session, then holds or tries to take the lock. */
  private async step(): Promise<void> {
    try {
      if (this.session) {
        const renewed = await this.consul.session.renew(this.session).catch(() => undefined);
        if (!renewed || (Array.isArray(renewed) && renewed.length === 0)) this.session = undefined;
      }
      if (!this.session) {
        this.set(false);
        const created = (await this.consul.session.create({ name: `mesh-controller ${this.id}`, ttl: SESSION_TTL, lockdelay: '0s', behavior: 'release' })) as { ID: string };
        this.session = created.ID;
      }
      const item = (await this.consul.kv.get({ key: this.key })) as { Session?: string } | null;
      if (item?.Session === this.session) return this.set(true);
      if (item?.Session) return this.set(false);
      const acquired = (await this.consul.kv.set({ key: this.key, value: this.id, acquire: this.session })) as boolean;
      this.set(acquired === true);
    } catch (err) {
      // Consul unreachable: whoever cannot renew cannot be sure it leads.
      this.set(false, err);
    }
  }

  /** Tells only of changes (a Consul that stays down is said once, when the leadership goes). */
  private set(leader: boolean, err?: unknown): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.onChange(leader, err);
  }
}
