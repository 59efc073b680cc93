// Kept-alive upstream connections for the HTTP/1.1 relay, per destination: a connection that
// finished a response cleanly goes back to the idle list; one that did not is destroyed. Limits
// follow the DestinationRule's connection pool: at most maxConnections open (further requests
// wait for one, up to the overflow check the balancer makes), at most
// maxRequestsPerConnection requests on one connection, idle ones closed after idleTimeoutMs.
import type { Duplex } from 'node:stream';

export interface PoolLimits {
  maxConnections: number;
  /** 0: unlimited. */
  maxRequestsPerConnection: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
}

/** Opens a connection; `ready` is the event that says it can carry a request. */
export type Connector = () => { socket: Duplex; ready: 'connect' | 'secureConnect' };

interface Destination {
  /** Oldest first: requests take the newest (pop), the sweep closes from the front. */
  idle: Duplex[];
  /** When each idle connection was given back. */
  idleSince: Map<Duplex, number>;
  /** One timer per destination closes connections idle too long (not one timer per request). */
  sweep: NodeJS.Timeout | undefined;
  open: number;
  waiting: ((s: Duplex | Error) => void)[];
  /** Set by retire(): its connections are not reused. */
  retired: boolean;
}

/**
 * Servers close idle connections after their own keep-alive timeout (Node's default is 5 s);
 * reusing one at that moment fails the request, so ours are let go a little sooner.
 */
const IDLE_CAP_MS = 4_000;

export class SocketPool {
  private destinations = new Map<string, Destination>();
  private readonly uses = new WeakMap<Duplex, number>();
  private readonly owner = new WeakMap<Duplex, Destination>();
  private closed = false;
  /** Connections open (or opening) to every destination. */
  openCount = 0;

  acquire(key: string, limits: PoolLimits, connect: Connector): Promise<Duplex> {
    if (this.closed) return Promise.reject(new Error('the upstream pool is closed'));
    const d = this.destination(key);
    for (let reused = d.idle.pop(); reused; reused = d.idle.pop()) {
      d.idleSince.delete(reused);
      // One the server closed a moment ago may not have reported its 'close' yet.
      if (!reused.destroyed && reused.writable) return Promise.resolve(reused);
      reused.destroy();
    }
    if (d.open >= limits.maxConnections) return new Promise((resolve, reject) => d.waiting.push((s) => (s instanceof Error ? reject(s) : resolve(s))));
    return this.open(d, limits, connect);
  }

  /** Gives a connection back after an exchange; `reusable` says its last response ended cleanly. */
  release(socket: Duplex, reusable: boolean, limits: PoolLimits): void {
    const d = this.owner.get(socket);
    const uses = (this.uses.get(socket) ?? 0) + 1;
    this.uses.set(socket, uses);
    const exhausted = limits.maxRequestsPerConnection > 0 && uses >= limits.maxRequestsPerConnection;
    if (!d || d.retired || !reusable || exhausted || this.closed || socket.destroyed) return void socket.destroy();
    const next = d.waiting.shift();
    if (next) return next(socket);
    d.idle.push(socket);
    d.idleSince.set(socket, Date.now());
    if (!d.sweep) this.armSweep(d, Math.min(limits.idleTimeoutMs, IDLE_CAP_MS), Math.min(limits.idleTimeoutMs, IDLE_CAP_MS));
  }

  /** Closes the connections idle for `maxIdleMs` or more, then waits for the next one to be due. */
  private armSweep(d: Destination, inMs: number, maxIdleMs: number): void {
    d.sweep = setTimeout(() => {
      d.sweep = undefined;
      const now = Date.now();
      while (d.idle.length > 0 && now - d.idleSince.get(d.idle[0])! >= maxIdleMs) {
        const s = d.idle.shift()!;
        d.idleSince.delete(s);
        s.destroy();
      }
      if (d.idle.length > 0) this.armSweep(d, d.idleSince.get(d.idle[0])! + maxIdleMs - now, maxIdleMs);
    }, inMs);
    d.sweep.unref();
  }

  /** True when the connection has carried a request before (a stale kept-alive one may fail at once). */
  wasUsed(socket: Duplex): boolean {
    return (this.uses.get(socket) ?? 0) > 0;
  }

  /** Closes the idle connections to one destination: one of them turned out dead. */
  dropIdle(key: string): void {
    const d = this.destinations.get(key);
    if (!d) return;
    for (const s of d.idle.splice(0)) s.destroy();
    d.idleSince.clear();
  }

  /** Closes the idle connections (busy ones close when released); new requests open fresh ones. */
  retire(): void {
    const old = this.destinations;
    this.destinations = new Map();
    for (const d of old.values()) {
      d.retired = true;
      clearTimeout(d.sweep);
      for (const s of d.idle) s.destroy();
    }
  }

  close(): void {
    this.closed = true;
    for (const d of this.destinations.values()) {
      clearTimeout(d.sweep);
      for (const s of d.idle) s.destroy();
      for (const w of d.waiting) w(new Error('the upstream pool is closed'));
    }
    this.destinations.clear();
  }

  private destination(key: string): Destination {
    let d = this.destinations.get(key);
    if (!d) {
      d = { idle: [], idleSince: new Map(), sweep: undefined, open: 0, waiting: [], retired: false };
      this.destinations.set(key, d);
    }
    return d;
  }

  private open(d: Destination, limits: PoolLimits, connect: Connector): Promise<Duplex> {
    d.open++;
    this.openCount++;
    const { socket, ready } = connect();
    this.owner.set(socket, d);
    socket.once('close', () => {
      d.open--;
      this.openCount--;
      const i = d.idle.indexOf(socket);
      if (i !== -1) d.idle.splice(i, 1);
      d.idleSince.delete(socket);
      // A slot is free: a waiting request may open a connection of its own.
      const next = d.waiting.shift();
      if (next) this.open(d, limits, connect).then(next, next);
    });
    // An idle connection can fail with nobody listening; the 'close' above cleans up.
    socket.on('error', () => undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${limits.connectTimeoutMs} ms`)), limits.connectTimeoutMs);
      socket.once(ready, () => {
        clearTimeout(timer);
        socket.off('error', fail);
        resolve(socket);
      });
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once('error', fail);
    });
  }
}
