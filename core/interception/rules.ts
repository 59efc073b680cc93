// Traffic capture rules for one workload's network namespace, built as iptables-restore input.
// Pure: the agent's adapter applies the text with `iptables-restore --noflush` (atomic per table)
// and removes it by deleting the chains it owns. Every chain and jump is named MESH_* and the
// jumps carry a comment, so the agent removes only what it added and re-running is harmless.
//
// Shape (Istio's, in short): PREROUTING sends inbound TCP for the app's ports to the sidecar's
// inbound listener; OUTPUT sends the app's outbound TCP to the sidecar's outbound listener,
// except the sidecar's own traffic (its UID), loopback destinations, and excluded ports/CIDRs.

export interface InterceptionSpec {
  /** UID the sidecar runs as; its own traffic is never redirected (no loops). */
  proxyUid: number;
  inboundPort: number;
  outboundPort: number;
  /** The application's ports whose inbound traffic goes through the sidecar. Empty: none. */
  appPorts: number[];
  /** Inbound ports never captured (SSH on VMs, the sidecar's admin port...). */
  excludeInboundPorts: number[];
  /** Outbound destination ports never captured. */
  excludeOutboundPorts: number[];
  /** Outbound destination CIDRs never captured (IPv4 and IPv6 entries are sorted out per family). */
  excludeOutboundCidrs: string[];
}

export const OWNER_COMMENT = 'mesh-agent';

const CHAINS = ['MESH_INBOUND', 'MESH_IN_REDIRECT', 'MESH_OUTPUT', 'MESH_REDIRECT'] as const;

export type Family = 'ipv4' | 'ipv6';

export function validateSpec(s: InterceptionSpec): string[] {
  const problems: string[] = [];
  const port = (p: number, what: string) => {
    if (!Number.isInteger(p) || p < 1 || p > 65535) problems.push(`${what}: ${p} is not a port`);
  };
  if (!Number.isInteger(s.proxyUid) || s.proxyUid < 0) problems.push(`proxyUid: ${s.proxyUid} is not a user id`);
  port(s.inboundPort, 'inboundPort');
  port(s.outboundPort, 'outboundPort');
  s.appPorts.forEach((p, i) => port(p, `appPorts[${i}]`));
  s.excludeInboundPorts.forEach((p, i) => port(p, `excludeInboundPorts[${i}]`));
  s.excludeOutboundPorts.forEach((p, i) => port(p, `excludeOutboundPorts[${i}]`));
  s.excludeOutboundCidrs.forEach((c, i) => {
    if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(c)) problems.push(`excludeOutboundCidrs[${i}]: "${c}" is not a CIDR`);
  });
  if (s.appPorts.includes(s.inboundPort) || s.appPorts.includes(s.outboundPort)) problems.push('appPorts: must not contain the sidecar listener ports');
  return problems;
}

/** iptables-restore input for the nat table of one address family. */
export function buildRules(s: InterceptionSpec, family: Family): string {
  const c = `-m comment --comment ${OWNER_COMMENT}`;
  const loopback = family === 'ipv4' ? '127.0.0.1/32' : '::1/128';
  const cidrs = s.excludeOutboundCidrs.filter((x) => (family === 'ipv4' ? !x.includes(':') : x.includes(':')));
  const lines: string[] = ['*nat', ...CHAINS.map((ch) => `:${ch} - [0:0]`)];

  // Inbound: the app's ports to the sidecar's inbound listener.
  lines.push(`-A PREROUTING -p tcp ${c} -j MESH_INBOUND`);
  for (const p of [...s.excludeInboundPorts].sort((a, b) => a - b)) lines.push(`-A MESH_INBOUND -p tcp --dport ${p} -j RETURN`);
  for (const p of [...s.appPorts].sort((a, b) => a - b)) lines.push(`-A MESH_INBOUND -p tcp --dport ${p} -j MESH_IN_REDIRECT`);
  lines.push(`-A MESH_IN_REDIRECT -p tcp -j REDIRECT --to-ports ${s.inboundPort}`);

  // Outbound: everything the app sends, except the sidecar's own traffic and the exclusions.
  lines.push(`-A OUTPUT -p tcp ${c} -j MESH_OUTPUT`);
  lines.push(`-A MESH_OUTPUT -m owner --uid-owner ${s.proxyUid} -j RETURN`);
  // Loopback stays local: the app talking to itself, and to services on the same host such as a
  // controller or a Consul agent. (Calls to other meshed services on the same host by its own
  // address are therefore not captured; they are plaintext on the host.)
  lines.push(`-A MESH_OUTPUT -o lo -j RETURN`);
  lines.push(`-A MESH_OUTPUT -d ${loopback} -j RETURN`);
  for (const p of [...s.excludeOutboundPorts].sort((a, b) => a - b)) lines.push(`-A MESH_OUTPUT -p tcp --dport ${p} -j RETURN`);
  for (const cidr of [...cidrs].sort()) lines.push(`-A MESH_OUTPUT -d ${cidr} -j RETURN`);
  lines.push('-A MESH_OUTPUT -j MESH_REDIRECT');
  lines.push(`-A MESH_REDIRECT -p tcp -j REDIRECT --to-ports ${s.outboundPort}`);
  lines.push('COMMIT');
  return `${lines.join('\n')}\n`;
}

/** Commands (iptables argument lists) that remove everything buildRules added, in a safe order. */
export function removalCommands(): string[][] {
  return [
    ['-t', 'nat', '-D', 'PREROUTING', '-p', 'tcp', '-m', 'comment', '--comment', OWNER_COMMENT, '-j', 'MESH_INBOUND'],
    ['-t', 'nat', '-D', 'OUTPUT', '-p', 'tcp', '-m', 'comment', '--comment', OWNER_COMMENT, '-j', 'MESH_OUTPUT'],
    ...CHAINS.map((ch) => ['-t', 'nat', '-F', ch]),
    ...CHAINS.map((ch) => ['-t', 'nat', '-X', ch]),
  ];
}
