// The mesh CA: roots shared through the KvStore (created once, first writer wins, so every
// controller signs with the same root), leaf issuance, and root rotation with a trust bundle
// that keeps old roots until they expire.
import { EventEmitter } from 'node:events';
import { createHash, hkdfSync } from 'node:crypto';
import { createRoot, SigningRoot, type RootMaterial } from '../../core/pki/ca.js';
import type { SpiffeIdentity } from '../../core/pki/spiffe.js';
import type { SubjectAltNames } from '../../core/pki/x509.js';
import { MeshError } from '../../core/errors.js';
import type { KvStore } from '../kv/kv-store.js';

const ROOTS_KEY = 'ca/roots';

interface StoredRoots {
  /** Newest first; the first one signs. */
  roots: (RootMaterial & { createdAt: string })[];
}

export interface CaOptions {
  trustDomain: string;
  rootLifetimeMs: number;
  leafTtlMs: number;
}

export class CertificateAuthority {
  private signing: SigningRoot | undefined;
  /** When the signing root was made (its lifetime runs from there). */
  private signingSince: Date | undefined;
  private bundle: string[] = [];
  private ticketKeys: Buffer | undefined;
  private version = 0;
  private readonly events = new EventEmitter();
  private stopWatch: (() => void) | undefined;

  constructor(
    private readonly kv: KvStore,
    readonly options: CaOptions,
  ) {}

  async start(): Promise<void> {
    let entry = await this.kv.get(ROOTS_KEY);
    if (!entry) {
      const initial: StoredRoots = { roots: [{ ...createRoot(this.options.trustDomain, new Date(), this.options.rootLifetimeMs), createdAt: new Date().toISOString() }] };
      try {
        await this.kv.put(ROOTS_KEY, JSON.stringify(initial), 0);
      } catch (err) {
        if (!(err instanceof MeshError && err.code === 'CONFLICT')) throw err; // another controller made it first
      }
      entry = await this.kv.get(ROOTS_KEY);
    }
    this.load(entry!.value, entry!.version);
    this.stopWatch = this.kv.watch(ROOTS_KEY, (entries) => {
      const e = entries.find((x) => x.key === ROOTS_KEY);
      if (e && e.version !== this.version) {
        this.load(e.value, e.version);
        this.events.emit('change');
      }
    });
  }

  /** PEM roots a peer certificate may chain to. */
  trustBundle(): string[] {
    return this.bundle;
  }

  /**
   * The keys of the API's TLS session tickets (48 bytes, as Node's setTicketKeys takes them),
   * derived from the signing root's key: every controller of the mesh holds that key, so a
   * proxy that moves to another controller (or back to a restarted one) resumes its session
   * instead of a full handshake. A new root makes new keys; older tickets then fall back to a
   * full handshake.
   */
  sessionTicketKeys(): Buffer {
    if (!this.ticketKeys) throw new MeshError('UNAVAILABLE', 'the CA has not started');
    return this.ticketKeys;
  }

  onChange(listener: () => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  issue(csrPem: string, identity: SpiffeIdentity, ttlMs = this.options.leafTtlMs, extra?: Omit<SubjectAltNames, 'uris'>): string {
    if (!this.signing) throw new MeshError('UNAVAILABLE', 'the CA has not started');
    if (identity.trustDomain !== this.options.trustDomain) throw new MeshError('PERMISSION_DENIED', `identity is in trust domain ${identity.trustDomain}, this CA serves ${this.options.trustDomain}`);
    return this.signing.issueLeaf(csrPem, identity, Math.min(ttlMs, this.options.leafTtlMs), new Date(), extra);
  }

  /** Makes a new signing root; the old ones stay trusted until they expire. */
  async rotate(): Promise<void> {
    const entry = await this.kv.get(ROOTS_KEY);
    if (!entry) throw new MeshError('INTERNAL', 'the CA roots disappeared from the store');
    const stored = JSON.parse(entry.value) as StoredRoots;
    const now = new Date();
    stored.roots = [{ ...createRoot(this.options.trustDomain, now, this.options.rootLifetimeMs), createdAt: now.toISOString() }, ...stored.roots.filter((r) => new SigningRoot(r).notAfter > now)];
    const version = await this.kv.put(ROOTS_KEY, JSON.stringify(stored), entry.version);
    this.load(JSON.stringify(stored), version);
    this.events.emit('change');
  }

  /**
   * The leader's job (controller/leader): once the signing root has less than a third of its life
   * left, its successor is made, well before leaves signed by it would outlive it. Returns whether
   * it rotated.
   */
  async renewRootIfDue(now = new Date()): Promise<boolean> {
    if (!this.signing || !this.signingSince) return false;
    const life = this.signing.notAfter.getTime() - this.signingSince.getTime();
    if (this.signing.notAfter.getTime() - now.getTime() > life / 3) return false;
    await this.rotate();
    return true;
  }

  async close(): Promise<void> {
    this.stopWatch?.();
    this.events.removeAllListeners();
  }

  private load(value: string, version: number): void {
    const stored = JSON.parse(value) as StoredRoots;
    const now = new Date();
    const roots = stored.roots.map((r) => new SigningRoot(r));
    this.signing = roots[0];
    this.signingSince = new Date(stored.roots[0].createdAt);
    // The root's hash as HKDF's info (which may not pass 1,024 bytes; a certificate can).
    const rootHash = createHash('sha256').update(stored.roots[0].certPem).digest();
    this.ticketKeys = Buffer.from(hkdfSync('sha256', stored.roots[0].keyPem, 'hostmesh controller TLS session tickets', rootHash, 48));
    this.bundle = roots.filter((r) => r.notAfter > now).map((r) => r.certPem);
    this.version = version;
  }
}
