// What the agent does for a workload, decided without I/O: the sidecar's command line, the
// catalog registration, the capture rules, and which sidecars to start or remove. The Docker and
// process runtimes carry these out; keeping the decisions here keeps them identical in both.
import { createHash } from 'node:crypto';
import type { InstanceRegistration } from '../catalog-model.js';
import type { InterceptionSpec } from '../interception/rules.js';
import { instanceLabels, type WorkloadDeclaration } from './workload.js';

/** A workload found on this host, with what the runtime knows of it. */
export interface DiscoveredWorkload {
  /** Stable per instance: the catalog id, e.g. `reviews-3f2a9c1d4b5e` or `reviews-vm1`. */
  instanceId: string;
  decl: WorkloadDeclaration;
  /** Address other hosts reach the instance at (container IP, VM address). */
  address: string;
  /** Runtime handle of the application (container id, service file path). */
  appRef: string;
  /** A container's main process: its network namespace is where the capture rules go. */
  netnsPid?: number;
  /** VM mode: the application's UID, which tells its outbound traffic apart. */
  appUid?: number;
}

/** A sidecar this agent started earlier, as the runtime reports it. */
export interface RunningSidecar {
  instanceId: string;
  /** Runtime handle of the sidecar (container id, unit name, pid). */
  ref: string;
  /** The fingerprint of the declaration it was started for; a change restarts it. */
  fingerprint: string;
  running: boolean;
  /**
   * Being stopped or stopped on request (`systemctl stop|restart mesh-proxy@<instance>`), not by
   * a crash: the agent leaves it alone and out of the catalog until it is started and ready again.
   */
  held?: boolean;
}

export interface AgentSettings {
  controllerUrl: string;
  proxyUid: number;
  trustDomain: string;
  /** Outbound ports never captured, e.g. the controller's and Consul's when apps call them. */
  excludeOutboundPorts: number[];
  excludeOutboundCidrs: string[];
  /** Inbound ports never captured (SSH on VMs). */
  excludeInboundPorts: number[];
  /** Passed to every sidecar: where spans go, and the share of new traces sampled. */
  tracing?: { endpoint: string; samplingPercent: number };
}

/** Short and label-safe: it travels as a container label or in a state file. */
export function fingerprint(w: DiscoveredWorkload): string {
  const d = w.decl;
  return hash([
    d.service,
    d.namespace,
    d.version ?? '',
    d.ports,
    d.protocol,
    d.sidecar,
    d.excludeInboundPorts,
    d.excludeOutboundPorts,
    d.excludeOutboundCidrs,
    d.user ?? '',
    d.gateway ?? false,
    d.labels ?? {},
    w.address,
    w.netnsPid ?? 0,
  ]);
}

/**
 * mesh-proxy's arguments. The CA bundle and bootstrap token travel in the environment; the
 * runtime adds --data-dir, which depends on where the sidecar runs.
 */
export function sidecarArgs(w: DiscoveredWorkload, s: AgentSettings): string[] {
  const d = w.decl;
  return [
    '--controller',
    s.controllerUrl,
    '--service',
    d.service,
    '--namespace',
    d.namespace,
    ...(d.serviceAccount ? ['--service-account', d.serviceAccount] : []),
    '--proxy-id',
    w.instanceId,
    '--trust-domain',
    s.trustDomain,
    // A gateway has no application: it listens where its Gateways say, for its labels.
    // As --name value pairs throughout: the systemd runtime passes them as MESH_PROXY_* variables.
    ...(d.gateway ? ['--gateway', 'true'] : ['--app-port', String(d.ports[0])]),
    ...(d.labels && Object.keys(d.labels).length > 0
      ? [
          '--labels',
          Object.entries(d.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        ]
      : []),
    '--inbound-port',
    String(d.sidecar.inboundPort),
    '--outbound-port',
    String(d.sidecar.outboundPort),
    '--admin-port',
    String(d.sidecar.adminPort),
    '--status-port',
    String(d.sidecar.statusPort),
    // A gateway captures no application's DNS, so it runs no DNS proxy.
    ...(d.sidecar.dnsPort !== undefined && !d.gateway ? ['--dns-port', String(d.sidecar.dnsPort)] : []),
    ...(s.tracing ? ['--otlp-endpoint', s.tracing.endpoint, '--trace-sampling', String(s.tracing.samplingPercent)] : []),
  ];
}

export function registrationFor(w: DiscoveredWorkload): InstanceRegistration {
  const d = w.decl;
  return {
    id: w.instanceId,
    service: d.service,
    namespace: d.namespace,
    address: w.address,
    port: d.ports[0],
    protocol: d.protocol,
    labels: instanceLabels(d),
    // A gateway takes the sidecars' mTLS on its own servers (ISTIO_MUTUAL): no sidecar in front.
    ...(d.gateway ? {} : { sidecar: { inboundPort: d.sidecar.inboundPort, statusPort: d.sidecar.statusPort } }),
    ...(d.serviceAccount ? { serviceAccount: d.serviceAccount } : {}),
    // The sidecar's status port probes the app over loopback; the app port itself is captured.
    check: { http: `http://${w.address}:${d.sidecar.statusPort}/healthz/app`, interval: '5s' },
  };
}

/** Whether the agent captures the workload's traffic: not for gateways, which have no application. */
export function hasApplication(w: { decl: WorkloadDeclaration }): boolean {
  return !w.decl.gateway;
}

/** Whether the agent registers the workload: an application, or a gateway with ports mesh workloads reach it at. */
export function isRegistered(w: { decl: WorkloadDeclaration }): boolean {
  return hasApplication(w) || w.decl.ports.length > 0;
}

/** Capture rules for the workloads sharing one network namespace (gateways excluded by the caller). */
export function interceptionFor(workloads: { decl: WorkloadDeclaration; appUid?: number }[], s: AgentSettings): InterceptionSpec {
  const uniq = (xs: number[]) => [...new Set(xs)];
  return {
    proxyUid: s.proxyUid,
    workloads: workloads.map(({ decl, appUid }) => ({
      appPorts: decl.ports,
      inboundPort: decl.sidecar.inboundPort,
      outboundPort: decl.sidecar.outboundPort,
      ...(decl.sidecar.dnsPort !== undefined ? { dnsPort: decl.sidecar.dnsPort } : {}),
      ...(appUid !== undefined ? { appUid } : {}),
    })),
    excludeInboundPorts: uniq([...s.excludeInboundPorts, ...workloads.flatMap(({ decl }) => [...decl.excludeInboundPorts, decl.sidecar.statusPort])]),
    excludeOutboundPorts: uniq([...s.excludeOutboundPorts, ...workloads.flatMap(({ decl }) => decl.excludeOutboundPorts)]),
    excludeOutboundCidrs: [...new Set([...s.excludeOutboundCidrs, ...workloads.flatMap(({ decl }) => decl.excludeOutboundCidrs)])],
  };
}

export interface ReconcilePlan {
  /** Workloads without a sidecar, or whose sidecar was started for another declaration. */
  start: DiscoveredWorkload[];
  /** Sidecars whose workload is gone or changed (removed before a replacement starts). */
  remove: RunningSidecar[];
  /** Sidecars that stay; the agent re-asserts rules and registration (both idempotent). */
  keep: { workload: DiscoveredWorkload; sidecar: RunningSidecar }[];
  /** Sidecars a person stopped: not started again, not routed to (deregistered). */
  hold: { workload: DiscoveredWorkload; sidecar: RunningSidecar }[];
}

export function reconcile(desired: DiscoveredWorkload[], running: RunningSidecar[]): ReconcilePlan {
  const plan: ReconcilePlan = { start: [], remove: [], keep: [], hold: [] };
  const byId = new Map(running.map((r) => [r.instanceId, r]));
  const wanted = new Set<string>();
  for (const w of desired) {
    wanted.add(w.instanceId);
    const r = byId.get(w.instanceId);
    // A person's stop wins over a changed declaration too: it takes effect when they start it.
    if (r?.held) plan.hold.push({ workload: w, sidecar: r });
    else if (r && r.running && r.fingerprint === fingerprint(w)) plan.keep.push({ workload: w, sidecar: r });
    else {
      if (r) plan.remove.push(r);
      plan.start.push(w);
    }
  }
  for (const r of running) if (!wanted.has(r.instanceId)) plan.remove.push(r);
  return plan;
}

function hash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
