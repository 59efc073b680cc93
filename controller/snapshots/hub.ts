// Keeps one compiled snapshot per known proxy and answers watches (long polls) the moment a
// proxy's snapshot version changes. Changes arriving in a burst (an apply of many documents, a
// catalog flap) are coalesced into one compile round. A caller that names a proxy id as another
// proxy (other labels, another service account) gets a state of its own: what one caller says
// never changes what another is sent, as an xDS server computes each connection's configuration
// for that connection.
import { SnapshotCompiler, type CompileContext, type CompiledSnapshot, type OutboundPiece, type ProxyRef } from '../../core/snapshot/compile.js';
import type { PieceKind, ProxyPieceCache } from '../api/gzip-parts.js';
import { deltaEnvelope, servicesDeltaJson } from '../../core/snapshot/delta.js';
import type { CompileMemo } from '../../core/snapshot/compile-memo.js';

export interface ProxyState {
  ref: ProxyRef;
  version: string;
  /** The snapshot JSON in pieces; see CompiledSnapshot.jsonParts. */
  jsonParts: CompiledSnapshot['jsonParts'];
  /** Its identity-and-inbound piece as last compressed: most changes leave it as it was. */
  proxyPiece: ProxyPieceCache;
  /** Its outbound piece, the base of the next delta once sent. */
  outbound: OutboundPiece;
  /**
   * What the proxy holds as far as this controller knows, version and outbound piece: what it was
   * last sent from here, or its current snapshot when a watch named that version. A watch naming
   * that version can be answered with a delta.
   */
  sent?: { version: string; outbound: OutboundPiece };
  lastSeen: number;
  /** When the current version was compiled (ms since epoch). */
  compiledAt: number;
  /** When the change that made it happened: the first change of its burst (ms since epoch). */
  triggeredAt: number;
  /** The last version sent to the proxy. */
  sentVersion?: string;
  /** The version the proxy says it holds (its watch names it, as xDS's ACK): what it applied. */
  ackedVersion?: string;
  /**
   * Its open watches and stream subscriptions, each told when its snapshot changes, and all of
   * them on drain (`draining` true). A Set, not an emitter's listener array: a push answers
   * thousands of watches, and taking each out of one shared array of all of them made every push
   * quadratic in the proxies (52 ms of a push at 5,000, 198 ms at 10,000).
   */
  watchers?: Set<(draining: boolean) => void>;
}

/** Istio's proxy-status words: the proxy holds what it would be sent now; was sent it and has not said it holds it; has not been sent it. */
export type SyncStatus = 'SYNCED' | 'STALE' | 'NOT SENT';

export function syncStatus(s: Pick<ProxyState, 'version' | 'sentVersion' | 'ackedVersion'>): SyncStatus {
  if (s.ackedVersion === s.version) return 'SYNCED';
  return s.sentVersion === s.version ? 'STALE' : 'NOT SENT';
}

/** Whose each piece of a whole snapshot is, and of a delta: opening, proxy, [envelope open, services delta, envelope close | outbound], rest. */
const DELTAS_PER_PIECE = 8;
/** Proxies compiled and answered per turn of the event loop during a push (recompile). */
const PUSH_BATCH = 200;

const WHOLE_KINDS: PieceKind[] = ['own', 'proxy', 'shared', 'shared'];
const DELTA_KINDS: PieceKind[] = ['own', 'proxy', 'own', 'shared', 'shared', 'shared'];

export interface HubOptions {
  /** Wait this long after a change for more changes before compiling. */
  coalesceMs: number;
  /** But never longer than this after the first change of a burst. */
  maxDelayMs: number;
  /** Proxies not seen for this long are forgotten. */
  forgetAfterMs: number;
  /**
   * States one workload identity (namespace and service account) may hold with no watch or
   * stream open; one more, and the one idle longest is forgotten (1,000 by default). A proxy that
   * follows its snapshot always has a watch or a stream, so only departed proxies and callers that
   * read and leave count: a workload cannot fill the controller with states under new proxy ids,
   * each compiled again in every round for `forgetAfterMs`.
   */
  maxIdleStatesPerIdentity?: number;
}

export class SnapshotHub {
  /**
   * The states by proxy id: almost always one. Another for the same id when a caller names it as
   * another proxy (a proxy restarted with other labels, an operator reading without them, or a
   * workload of the namespace claiming a neighbour's id); each is forgotten as any proxy is, once
   * unwatched for `forgetAfterMs`. Not capped per id (a cap would let a caller evict the proxy's
   * own state, ending its stream); capped per workload identity instead (`idleByIdentity`).
   */
  private readonly proxies = new Map<string, ProxyState[]>();
  /** Per workload identity, its states without a watch or stream, the one idle longest first. */
  private readonly idleByIdentity = new Map<string, Set<ProxyState>>();
  private timer: NodeJS.Timeout | undefined;
  private burstStart = 0;
  private compiler: SnapshotCompiler | undefined;
  /** The compiler from before the latest burst of changes: what a proxy arriving from another controller as a change lands may hold. */
  private previousCompiler: SnapshotCompiler | undefined;
  private gcTimer: NodeJS.Timeout | undefined;
  private lastMemo: CompileMemo | undefined;
  private draining = false;

  /** Whether the hub drains (the controller is stopping): proxies should go to another controller. */
  get isDraining(): boolean {
    return this.draining;
  }
  /** Counts compile rounds; a round still pushing in batches stops when a newer one starts. */
  private round = 0;

  constructor(
    private readonly context: () => CompileContext,
    private readonly options: HubOptions,
  ) {}

  start(): void {
    this.gcTimer = setInterval(() => this.forgetIdle(), Math.min(this.options.forgetAfterMs, 60_000));
    this.gcTimer.unref();
  }

  /** Something the snapshots depend on changed. */
  invalidate(): void {
    const now = Date.now();
    if (!this.timer) {
      this.burstStart = now;
      // What the proxies hold until this burst is pushed, which a proxy that moves here meanwhile may name.
      if (this.compiler) this.previousCompiler = this.compiler;
    }
    this.compiler = undefined; // proxies first seen from now on compile from the new inputs
    clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.options.coalesceMs, this.burstStart + this.options.maxDelayMs - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.recompile();
    }, wait);
  }

  /** The proxy's current snapshot, compiling it if the proxy is new (or new as this caller names it). */
  current(ref: ProxyRef): ProxyState {
    const own = this.proxies.get(ref.id);
    let state = own && primary(own.filter((s) => sameProxy(s.ref, ref)));
    if (!state) {
      const compiled = this.compilerForRound().compile(ref);
      const now = Date.now();
      state = { ref, version: compiled.snapshot.version, jsonParts: compiled.jsonParts, proxyPiece: {}, outbound: compiled.outbound, lastSeen: now, compiledAt: now, triggeredAt: now };
      if (own) own.push(state);
      else this.proxies.set(ref.id, [state]);
      this.markIdle(state);
    }
    state.lastSeen = Date.now();
    return state;
  }

  /**
   * Resolves with the proxy's snapshot as soon as its version differs from `knownVersion`, or
   * with the unchanged one after `waitMs` (the caller then answers "not modified").
   */
  watch(ref: ProxyRef, knownVersion: string | undefined, waitMs: number, signal?: AbortSignal): Promise<ProxyState> {
    const state = this.current(ref);
    this.holds(state, knownVersion);
    if (state.version !== knownVersion || waitMs <= 0 || this.draining) return Promise.resolve(state);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.detach(state, done);
        signal?.removeEventListener('abort', done);
        state.lastSeen = Date.now();
        resolve(state);
      };
      const timer = setTimeout(done, waitMs);
      this.attach(state, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * A stream's subscription: `changed` with the proxy's state each time its snapshot changes
   * (the caller sends what differs from what it holds), `drained` once when the hub drains (the
   * stream ends, so that the proxy goes to another controller), until `close()`. `state`: the
   * proxy's snapshot now, which the caller sends first when it is not `knownVersion`.
   */
  subscribe(ref: ProxyRef, knownVersion: string | undefined, listener: { changed(s: ProxyState): void; drained(): void }): { state: ProxyState; close(): void } {
    const state = this.current(ref);
    this.holds(state, knownVersion);
    const notify = (draining: boolean) => {
      if (draining) return listener.drained();
      state.lastSeen = Date.now();
      listener.changed(state);
    };
    this.attach(state, notify);
    if (this.draining) queueMicrotask(() => notify(true));
    return { state, close: () => this.detach(state, notify) };
  }

  /** The proxy acknowledged `version` on the stream it holds `state` by, as a watch naming it does. */
  acknowledged(state: ProxyState, version: string): void {
    this.holds(state, version);
  }

  /** The proxy says it holds `knownVersion` (a watch names it; a stream acknowledges it): xDS's ACK. */
  private holds(state: ProxyState, knownVersion: string | undefined): void {
    if (knownVersion === undefined) return;
    state.ackedVersion = knownVersion;
    // The same version is the same content whichever controller sent it (every controller
    // compiles the same snapshot from the same inputs): a proxy that moved here after its
    // controller was lost gets the next change as a delta, not whole.
    if (state.version === knownVersion && state.sent?.version !== knownVersion) state.sent = { version: knownVersion, outbound: state.outbound };
  }

  /**
   * The snapshot to send, in pieces: as a delta against `heldVersion` when that is what the proxy
   * is known to hold (`sent`, or what the round before this one compiled for it: it came from
   * another controller as the change arrived), else whole. Records it as sent.
   * `kind(i)`: whose piece i is (gzip-parts.ts); `bytes`: the size of the whole, uncompressed.
   */
  partsToSend(state: ProxyState, heldVersion: string | undefined, deltaAccepted: boolean): { parts: string[]; kind: (i: number) => PieceKind; delta: boolean; bytes: number } {
    const base = deltaAccepted && heldVersion !== undefined ? this.held(state, heldVersion) : undefined;
    state.sent = { version: state.version, outbound: state.outbound };
    state.sentVersion = state.version;
    const [opening, proxy, , rest] = state.jsonParts;
    const services = base ? this.servicesDelta(base, state.outbound) : undefined;
    if (services === undefined) {
      const bytes = Buffer.byteLength(opening) + Buffer.byteLength(proxy) + state.outbound.bytes() + Buffer.byteLength(rest);
      return { parts: state.jsonParts, kind: (i) => WHOLE_KINDS[i], delta: false, bytes };
    }
    const [open, close] = deltaEnvelope(heldVersion!);
    const parts = [opening, proxy, open, services, close, rest];
    return { parts, kind: (i) => DELTA_KINDS[i], delta: true, bytes: parts.reduce((n, p) => n + Buffer.byteLength(p), 0) };
  }

  /**
   * Per pair of outbound pieces, what changed: the same for every proxy that moves from one to the
   * other. Keyed by the target's hash, not the target itself, so that a piece a silent proxy still
   * holds does not keep every later piece alive; a few targets per piece are kept.
   */
  private readonly deltas = new WeakMap<OutboundPiece, Map<string, string | undefined>>();

  private servicesDelta(from: OutboundPiece, to: OutboundPiece): string | undefined {
    if (from === to || from.hash === to.hash) return '"upsert":[],"remove":[]';
    let byTarget = this.deltas.get(from);
    if (!byTarget) this.deltas.set(from, (byTarget = new Map()));
    if (!byTarget.has(to.hash)) {
      const [a, b] = [from.keyed(), to.keyed()];
      if (byTarget.size >= DELTAS_PER_PIECE) byTarget.delete(byTarget.keys().next().value!);
      byTarget.set(to.hash, a && b ? servicesDeltaJson(a, b) : undefined);
    }
    return byTarget.get(to.hash);
  }

  /**
   * The proxy of this id, as operators see it: of its states (usually one), the one with an open
   * watch or stream seen last, else the one seen last.
   */
  get(id: string): ProxyState | undefined {
    const own = this.proxies.get(id);
    return own && primary(own);
  }

  /** Proxy ids known (what `list()` would count, without picking each id's state). */
  get size(): number {
    return this.proxies.size;
  }

  /** One state per proxy id, as `get` picks it. */
  list(): ProxyState[] {
    return [...this.proxies.keys()].map((id) => this.get(id)!);
  }

  /** Answers every open watch now (with what it has) so that clients reconnect elsewhere. */
  drain(): void {
    this.draining = true;
    for (const own of this.proxies.values()) for (const s of own) this.answerState(s, true);
  }

  close(): void {
    clearTimeout(this.timer);
    clearInterval(this.gcTimer);
    this.drain();
  }

  private attach(state: ProxyState, notify: (draining: boolean) => void): void {
    (state.watchers ??= new Set()).add(notify);
    this.idleSetOf(state)?.delete(state);
  }

  private detach(state: ProxyState, notify: (draining: boolean) => void): void {
    state.watchers?.delete(notify);
    // A state forgotten meanwhile (evicted, or idle too long) stays forgotten.
    if (!state.watchers?.size && this.proxies.get(state.ref.id)?.includes(state)) this.markIdle(state);
  }

  /** The state has no watch or stream now: it goes last in its identity's idle states, and the ones idle longest beyond the cap are forgotten. */
  private markIdle(state: ProxyState): void {
    const key = identityOf(state.ref);
    if (key === undefined) return; // the admin token: not a workload's to fill
    let idle = this.idleByIdentity.get(key);
    if (!idle) this.idleByIdentity.set(key, (idle = new Set()));
    idle.delete(state);
    idle.add(state);
    const max = Math.max(1, this.options.maxIdleStatesPerIdentity ?? 1000);
    for (const oldest of idle) {
      if (idle.size <= max) break;
      this.forget(oldest);
    }
  }

  private idleSetOf(state: ProxyState): Set<ProxyState> | undefined {
    const key = identityOf(state.ref);
    return key === undefined ? undefined : this.idleByIdentity.get(key);
  }

  private forget(state: ProxyState): void {
    const idle = this.idleSetOf(state);
    idle?.delete(state);
    if (idle?.size === 0) this.idleByIdentity.delete(identityOf(state.ref)!);
    const own = this.proxies.get(state.ref.id);
    if (!own) return;
    const kept = own.filter((s) => s !== state);
    if (kept.length === 0) this.proxies.delete(state.ref.id);
    else this.proxies.set(state.ref.id, kept);
  }

  /** Tells the state's watches and streams (a watch takes itself out of the set, which a Set's iteration allows). */
  private answerState(state: ProxyState, draining = false): void {
    if (state.watchers) for (const notify of state.watchers) notify(draining);
  }

  /** The outbound piece of the version the proxy names, when known here: as `sent`, or compiled by the round before the latest burst. */
  private held(state: ProxyState, version: string): OutboundPiece | undefined {
    if (state.sent?.version === version) return state.sent.outbound;
    const earlier = this.previousCompiler?.compile(state.ref);
    return earlier?.snapshot.version === version ? earlier.outbound : undefined;
  }

  private compilerForRound(): SnapshotCompiler {
    // The newest round's memo: its services that did not change are reused, not compiled again.
    this.compiler ??= new SnapshotCompiler(this.context(), this.lastMemo);
    this.lastMemo = this.compiler.memo;
    return this.compiler;
  }

  /**
   * Compiles every proxy's snapshot for the new inputs and answers its watch, PUSH_BATCH proxies
   * per turn of the event loop: the answers of one batch are written before the next is built, so
   * that a push to thousands of proxies neither holds all their responses at once nor keeps the
   * controller from its sockets and Consul for the whole push. A newer round takes over.
   */
  private recompile(): void {
    this.compiler = undefined; // a new round sees the new inputs
    const compiler = this.compilerForRound();
    const round = ++this.round;
    const triggeredAt = this.burstStart || Date.now();
    const states = [...this.proxies.values()].flat();
    let next = 0;
    const batch = (): void => {
      if (round !== this.round || this.draining) return;
      const now = Date.now(); // compiledAt: when this batch was compiled (the push-time metric starts there)
      for (const end = Math.min(states.length, next + PUSH_BATCH); next < end; next++) {
        const state = states[next];
        const compiled = compiler.compile(state.ref);
        if (compiled.snapshot.version === state.version) continue;
        state.version = compiled.snapshot.version;
        state.jsonParts = compiled.jsonParts;
        state.outbound = compiled.outbound;
        state.compiledAt = now;
        state.triggeredAt = triggeredAt;
        this.answerState(state);
      }
      if (next < states.length) setImmediate(batch);
    };
    batch();
  }

  private forgetIdle(): void {
    const cutoff = Date.now() - this.options.forgetAfterMs;
    for (const own of [...this.proxies.values()]) for (const s of own) if (s.lastSeen < cutoff && !s.watchers?.size) this.forget(s);
  }
}

/** A workload caller's identity (namespace and service account); undefined for the admin token. */
function identityOf(ref: ProxyRef): string | undefined {
  return ref.serviceAccount === undefined ? undefined : `${ref.namespace}/${ref.serviceAccount}`;
}

/** Of a proxy id's states, the one operators mean: with an open watch or stream and seen last, else seen last (the later made on a tie). */
function primary(states: ProxyState[]): ProxyState | undefined {
  const watched = states.filter((s) => s.watchers?.size);
  const among = watched.length > 0 ? watched : states;
  return among.length === 0 ? undefined : among.reduce((a, b) => (b.lastSeen >= a.lastSeen ? b : a));
}

/**
 * Whether a caller (`b`) is the proxy a state was compiled for (`a`): the same service,
 * namespace, mode and labels, and the identity its certificate names (a caller without one, an
 * operator reading the proxy's snapshot with the admin token, names none and reads the proxy's).
 */
function sameProxy(a: ProxyRef, b: ProxyRef): boolean {
  return (
    a.service === b.service &&
    a.namespace === b.namespace &&
    a.gateway === b.gateway &&
    (b.serviceAccount === undefined || a.serviceAccount === b.serviceAccount) &&
    JSON.stringify(a.labels) === JSON.stringify(b.labels)
  );
}
