// Traffic capture rules for one workload's network namespace, built as iptables-restore input.
// Pure: the agent's adapter applies the text with `iptables-restore --noflush` (atomic per table)
// and removes it by deleting the chains it owns. Every chain and jump is named MESH_* and the
// jumps carry a comment, so the agent removes only what it added and re-running is harmless.
//
// Shape (Istio's, in short): PREROUTING sends inbound TCP for the app's ports to the sidecar's
// inbound listener; OUTPUT sends the app's outbound TCP to the sidecar's outbound listener,
// except the sidecar's own traffic (its UID), loopback destinations, and excluded ports/CIDRs.
// A VM may run several services in one namespace: each app's ports go to its own sidecar, and
// its outbound traffic is told apart by the app's UID.

/** One application in the namespace and its sidecar's listeners. */
export interface CapturedWorkload {
  /** The application's ports whose inbound traffic goes through the sidecar. Empty: none. */
  appPorts: number[];
  inboundPort: number;
  outboundPort: number;
  /** The sidecar's DNS proxy: the app's DNS queries (UDP and TCP port 53, to any resolver) go there. Absent: DNS is not captured. */
  dnsPort?: number;
  /**
   * The application's UID. Its outbound traffic goes to this sidecar. Optional with one workload
   * in the namespace (a container); required with several (a VM running several services).
   */
  appUid?: number;
}

export interface InterceptionSpec {
  /** UID the sidecars run as; their own traffic is never redirected (no loops). */
  proxyUid: number;
  workloads: CapturedWorkload[];
  /** Inbound ports never captured (SSH on VMs, the sidecar's admin port...). */
  excludeInboundPorts: number[];
  /** Outbound destination ports never captured. */
  excludeOutboundPorts: number[];
  /** Outbound destination CIDRs never captured (IPv4 and IPv6 entries are sorted out per family). */
  excludeOutboundCidrs: string[];
}

export const OWNER_COMMENT = 'mesh-agent';

const CHAINS = ['MESH_INBOUND', 'MESH_OUTPUT', 'MESH_DNS'] as const;

export type Family = 'ipv4' | 'ipv6';

export function validateSpec(s: InterceptionSpec): string[] {
  const problems: string[] = [];
  const port = (p: number, what: string) => {
    if (!Number.isInteger(p) || p < 1 || p > 65535) problems.push(`${what}: ${p} is not a port`);
  };
  if (!Number.isInteger(s.proxyUid) || s.proxyUid < 0) problems.push(`proxyUid: ${s.proxyUid} is not a user id`);
  if (s.workloads.length === 0) problems.push('workloads: at least one workload is needed');
  const listeners = new Set(s.workloads.flatMap((w) => [w.inboundPort, w.outboundPort]));
  const seenAppPorts = new Map<number, number>();
  s.workloads.forEach((w, i) => {
    const at = `workloads[${i}]`;
    port(w.inboundPort, `${at}.inboundPort`);
    port(w.outboundPort, `${at}.outboundPort`);
    if (w.dnsPort !== undefined) port(w.dnsPort, `${at}.dnsPort`);
    w.appPorts.forEach((p, j) => {
      port(p, `${at}.appPorts[${j}]`);
      const other = seenAppPorts.get(p);
      if (other !== undefined) problems.push(`${at}.appPorts[${j}]: port ${p} is already captured for workloads[${other}]`);
      seenAppPorts.set(p, i);
    });
    if (w.appPorts.some((p) => listeners.has(p))) problems.push(`${at}.appPorts: must not contain the sidecar listener ports`);
    if (w.appUid === undefined && s.workloads.length > 1) problems.push(`${at}.appUid: needed when several workloads share the namespace, so that each one's outbound traffic reaches its own sidecar`);
    if (w.appUid !== undefined && (!Number.isInteger(w.appUid) || w.appUid < 0)) problems.push(`${at}.appUid: ${w.appUid} is not a user id`);
    if (w.appUid === s.proxyUid) problems.push(`${at}.appUid: ${w.appUid} is the sidecars' UID; run the application as another user`);
  });
  s.excludeInboundPorts.forEach((p, i) => port(p, `excludeInboundPorts[${i}]`));
  s.excludeOutboundPorts.forEach((p, i) => port(p, `excludeOutboundPorts[${i}]`));
  s.excludeOutboundCidrs.forEach((c, i) => {
    if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(c)) problems.push(`excludeOutboundCidrs[${i}]: "${c}" is not a CIDR`);
  });
  return problems;
}

/** iptables-restore input for the nat table of one address family. */
export function buildRules(s: InterceptionSpec, family: Family): string {
  const c = `-m comment --comment ${OWNER_COMMENT}`;
  const loopback = family === 'ipv4' ? '127.0.0.1/32' : '::1/128';
  const cidrs = s.excludeOutboundCidrs.filter((x) => (family === 'ipv4' ? !x.includes(':') : x.includes(':')));
  const byPort = (a: number, b: number) => a - b;
  const dns = s.workloads.some((w) => w.dnsPort !== undefined);
  const lines: string[] = ['*nat', ...CHAINS.filter((ch) => dns || ch !== 'MESH_DNS').map((ch) => `:${ch} - [0:0]`)];

  // Inbound: each app's ports to its sidecar's inbound listener.
  lines.push(`-A PREROUTING -p tcp ${c} -j MESH_INBOUND`);
  for (const p of [...s.excludeInboundPorts].sort(byPort)) lines.push(`-A MESH_INBOUND -p tcp --dport ${p} -j RETURN`);
  const inbound = s.workloads.flatMap((w) => w.appPorts.map((p) => [p, w.inboundPort] as const)).sort((a, b) => a[0] - b[0]);
  for (const [p, to] of inbound) lines.push(`-A MESH_INBOUND -p tcp --dport ${p} -j REDIRECT --to-ports ${to}`);

  // DNS: the apps' queries, to whichever resolver (a loopback one such as systemd-resolved's
  // too), go to their sidecar's DNS proxy, which forwards what is not a mesh name. Before the
  // TCP capture, which would take DNS over TCP to the outbound listener. The sidecars' own
  // queries (forwarded ones) go where they were sent. First in OUTPUT (-I): a resolver's own
  // NAT rule there, such as Docker's embedded DNS (127.0.0.11) rewriting port 53, would
  // otherwise take the query before it is seen.
  if (dns) {
    lines.push(`-I OUTPUT -p udp --dport 53 ${c} -j MESH_DNS`);
    lines.push(`-I OUTPUT -p tcp --dport 53 ${c} -j MESH_DNS`);
    lines.push(`-A MESH_DNS -m owner --uid-owner ${s.proxyUid} -j RETURN`);
    for (const w of [...s.workloads].sort((a, b) => (a.appUid ?? -1) - (b.appUid ?? -1))) {
      if (w.dnsPort === undefined) continue;
      const owner = w.appUid === undefined ? '' : ` -m owner --uid-owner ${w.appUid}`;
      for (const proto of ['udp', 'tcp']) lines.push(`-A MESH_DNS -p ${proto}${owner} -j REDIRECT --to-ports ${w.dnsPort}`);
    }
  }

  // Outbound: everything the apps send, except the sidecars' own traffic and the exclusions.
  lines.push(`-A OUTPUT -p tcp ${c} -j MESH_OUTPUT`);
  lines.push(`-A MESH_OUTPUT -m owner --uid-owner ${s.proxyUid} -j RETURN`);
  // Loopback stays local: the app talking to itself, and to services on the same host such as a
  // controller or a Consul agent. (Calls to other meshed services on the same host by its own
  // address are therefore not captured; they are plaintext on the host.)
  lines.push(`-A MESH_OUTPUT -o lo -j RETURN`);
  lines.push(`-A MESH_OUTPUT -d ${loopback} -j RETURN`);
  for (const p of [...s.excludeOutboundPorts].sort(byPort)) lines.push(`-A MESH_OUTPUT -p tcp --dport ${p} -j RETURN`);
  for (const cidr of [...cidrs].sort()) lines.push(`-A MESH_OUTPUT -d ${cidr} -j RETURN`);
  const outbound = [...s.workloads].sort((a, b) => (a.appUid ?? -1) - (b.appUid ?? -1));
  for (const w of outbound) {
    const owner = w.appUid === undefined ? '' : ` -m owner --uid-owner ${w.appUid}`;
    lines.push(`-A MESH_OUTPUT -p tcp${owner} -j REDIRECT --to-ports ${w.outboundPort}`);
  }
  lines.push('COMMIT');
  return `${lines.join('\n')}\n`;
}

/** Commands (iptables argument lists) that remove everything buildRules added, in a safe order. */
export function removalCommands(): string[][] {
  return [
    ['-t', 'nat', '-D', 'PREROUTING', '-p', 'tcp', '-m', 'comment', '--comment', OWNER_COMMENT, '-j', 'MESH_INBOUND'],
    ['-t', 'nat', '-D', 'OUTPUT', '-p', 'udp', '--dport', '53', '-m', 'comment', '--comment', OWNER_COMMENT, '-j', 'MESH_DNS'],
    ['-t', 'nat', '-D', 'OUTPUT', '-p', 'tcp', '--dport', '53', '-m', 'comment', '--comment', OWNER_COMMENT, '-j', 'MESH_DNS'],
    ['-t', 'nat', '-D', 'OUTPUT', '-p', 'tcp', '-m', 'comment', '--comment', OWNER_COMMENT, '-j', 'MESH_OUTPUT'],
    ...CHAINS.map((ch) => ['-t', 'nat', '-F', ch]),
    ...CHAINS.map((ch) => ['-t', 'nat', '-X', ch]),
  ];
}
