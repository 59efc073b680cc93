// The sidecars' state reports (PUT /v1/proxies/ID/config-dump), kept for meshctl proxy-config.
// A report is kept as the bytes that came (a parsed object costs several times its JSON), and the
// reports of one workload identity together hold at most a byte budget: a workload may make up
// proxy ids (the hub keeps up to 1,000 idle states per identity), and without a budget one
// certificate could make the controller hold ids x the body limit (about 1 GB). Past the budget the
// identity's least recently reported proxies lose their reports first, so a proxy that reports
// keeps its own and no identity can push out another's.

interface Held {
  raw: Buffer;
  receivedAt: number;
  identity: string;
}

interface IdentityShare {
  bytes: number;
  /** Ids in the order they last reported, oldest first (a Set keeps insertion order). */
  ids: Set<string>;
}

export class ConfigDumpStore {
  private readonly byId = new Map<string, Held>();
  private readonly byIdentity = new Map<string, IdentityShare>();
  private total = 0;

  constructor(private readonly maxBytesPerIdentity: number) {
    if (!Number.isInteger(maxBytesPerIdentity) || maxBytesPerIdentity < 1) throw new RangeError(`maxBytesPerIdentity: a positive whole number of bytes, got ${maxBytesPerIdentity}`);
  }

  /** Keeps a proxy's report (replacing its last one); `identity` is whose proxy it is (namespace/service account). */
  put(id: string, identity: string, raw: Buffer, receivedAt: number): void {
    this.delete(id);
    let share = this.byIdentity.get(identity);
    if (!share) this.byIdentity.set(identity, (share = { bytes: 0, ids: new Set() }));
    this.byId.set(id, { raw, receivedAt, identity });
    share.ids.add(id);
    share.bytes += raw.length;
    this.total += raw.length;
    for (const oldest of share.ids) {
      if (share.bytes <= this.maxBytesPerIdentity || oldest === id) break;
      this.delete(oldest);
    }
  }

  get(id: string): { raw: Buffer; receivedAt: number } | undefined {
    return this.byId.get(id);
  }

  delete(id: string): void {
    const held = this.byId.get(id);
    if (!held) return;
    this.byId.delete(id);
    const share = this.byIdentity.get(held.identity)!;
    share.ids.delete(id);
    share.bytes -= held.raw.length;
    this.total -= held.raw.length;
    if (share.ids.size === 0) this.byIdentity.delete(held.identity);
  }

  /** Forgets the reports of proxies `known` no longer knows. */
  prune(known: (id: string) => boolean): void {
    for (const id of [...this.byId.keys()]) if (!known(id)) this.delete(id);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Bytes held over all identities. */
  get bytes(): number {
    return this.total;
  }
}
