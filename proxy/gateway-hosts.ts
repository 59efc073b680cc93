// A gateway listener's virtual hosts, looked up as Envoy's route configuration does: the exact
// host first, then the longest matching `*.suffix`, then `*`. Built once per snapshot.
import type { OutboundService } from '../core/snapshot/types.js';

export class GatewayHosts {
  private readonly exact = new Map<string, OutboundService>();
  /** `.suffix` (with its dot), longest first. */
  private readonly wildcards: [string, OutboundService][] = [];
  private readonly any: OutboundService | undefined;

  constructor(virtualHosts: OutboundService[]) {
    let any: OutboundService | undefined;
    for (const v of virtualHosts) {
      for (const h of v.hosts) {
        // The first VirtualService to claim a host keeps it (the compiler orders them oldest first).
        if (h === '*') any ??= v;
        else if (h.startsWith('*.')) {
          if (!this.wildcards.some(([s]) => s === h.slice(1))) this.wildcards.push([h.slice(1), v]);
        } else if (!this.exact.has(h)) this.exact.set(h, v);
      }
    }
    this.wildcards.sort((a, b) => b[0].length - a[0].length);
    this.any = any;
  }

  lookup(host: string): OutboundService | undefined {
    const h = host.toLowerCase();
    const exact = this.exact.get(h);
    if (exact) return exact;
    for (const [suffix, v] of this.wildcards) if (h.endsWith(suffix) && h.length > suffix.length) return v;
    return this.any;
  }

  /** TCP has no host: the first VirtualService bound to the port. */
  first(): OutboundService | undefined {
    return this.any ?? [...this.exact.values()][0] ?? this.wildcards[0]?.[1];
  }
}
