// The names the sidecar's DNS proxy answers itself, as Istio's DNS proxying does: every name a
// mesh service answers to for this proxy (its short name in the proxy's own namespace,
// name.namespace, the FQDN forms, Consul's name) maps to the addresses of the service's healthy
// endpoints. A connection to one of them is captured and routed by the sidecar like any other
// (HTTP by its Host header, TCP by its original destination), so the app needs no /etc/hosts
// line. Names outside the mesh are not here: they go to the host's resolver. Pure.
import type { OutboundService } from '../snapshot/types.js';

export interface DnsAnswer {
  /** IPv4 addresses (A records). */
  a: string[];
  /** IPv6 addresses (AAAA records); empty: the name exists but has none (NOERROR, no records), never NXDOMAIN. */
  aaaa: string[];
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Lower-case, without the trailing dot: how names are kept and looked up. */
export function normaliseName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

export function meshDnsTable(services: readonly OutboundService[]): Map<string, DnsAnswer> {
  const table = new Map<string, DnsAnswer>();
  for (const svc of services) {
    if (svc.external) continue;
    const all = svc.clusters.find((c) => c.subset === undefined) ?? svc.clusters[0];
    const addresses = [...new Set((all?.endpoints ?? []).map((e) => e.address))].sort();
    if (addresses.length === 0) continue;
    const answer: DnsAnswer = { a: addresses.filter((a) => IPV4.test(a)), aaaa: addresses.filter((a) => a.includes(':')) };
    for (const host of svc.hosts) {
      const name = normaliseName(host);
      if (!table.has(name)) table.set(name, answer);
    }
  }
  return table;
}
