// What a workload declares to join the mesh, read from Docker labels or from a VM's service file.
// Pure: both readers collect every violation with its path (a label name or a field path), so
// that one bad container or file is reported whole and the agent carries on with the others.
import type { AppProtocol } from '../catalog-model.js';
import type { Violation } from '../errors.js';
import { arr, isPlainObject, obj, port, str } from '../resources/schema.js';
import { labelProblem } from '../labels.js';

export const PROTOCOLS: readonly AppProtocol[] = ['http', 'http2', 'grpc', 'tcp'];
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const CIDR = /^[0-9a-fA-F:.]+\/\d{1,3}$/;

/** The sidecar's listener ports. Defaults suit one workload per network namespace. */
export interface SidecarPorts {
  inboundPort: number;
  outboundPort: number;
  /** Loopback only: the sidecar's admin interface, for people and meshctl on the host. */
  adminPort: number;
  /** Readiness, the app's health check and Prometheus metrics: the one port others reach. */
  statusPort: number;
  /**
   * VM mode: the DNS proxy (loopback, UDP and TCP) that the app's DNS queries are redirected to,
   * so that mesh service names resolve with no /etc/hosts line. Containers resolve names through
   * their engine's DNS and have none.
   */
  dnsPort?: number;
}

/** A VM's sidecar ports: a container's, plus the DNS proxy (by default the inbound port + 47: 15053, Istio's). */
export const DEFAULT_VM_SIDECAR_PORTS: SidecarPorts = { inboundPort: 15006, outboundPort: 15001, adminPort: 15000, statusPort: 15020, dnsPort: 15053 };
const DNS_PORT_OFFSET = 47;

export const DEFAULT_SIDECAR_PORTS: SidecarPorts = { inboundPort: 15006, outboundPort: 15001, adminPort: 15000, statusPort: 15020 };

export interface WorkloadDeclaration {
  service: string;
  namespace: string;
  /** Becomes the instance's `version` label, which DestinationRule subsets select on. */
  version?: string;
  /** The application's ports; the first is the one registered in the catalog. */
  ports: number[];
  protocol: AppProtocol;
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  excludeOutboundCidrs: string[];
  sidecar: SidecarPorts;
  /** VM mode: the user the application runs as (name or UID); tells its outbound traffic apart. */
  user?: string | number;
  /** The workload identity's service account (SPIFFE `sa/`), as Istio takes it from the pod's; absent: the service name. */
  serviceAccount?: string;
  /**
   * A gateway (Istio's ingress or egress gateway): no application, so no capture; its proxy runs
   * `mesh-proxy --gateway` and listens on the servers of the Gateways whose selector matches its
   * labels. With `ports` (where mesh workloads reach it: an egress gateway) it is registered in
   * the catalog, without a sidecar port, so that sidecars route to it; without, it is not.
   */
  gateway?: boolean;
  /** Labels for selectors beyond app and version (a gateway's `istio: ingressgateway`). */
  labels?: Record<string, string>;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; violations: Violation[] };

// ---- Docker labels ----------------------------------------------------------------------

export const LABELS = {
  service: 'mesh.service',
  namespace: 'mesh.namespace',
  serviceAccount: 'mesh.service-account',
  version: 'mesh.version',
  port: 'mesh.port',
  protocol: 'mesh.protocol',
  excludePorts: 'mesh.exclude-ports',
  excludeOutboundCidrs: 'mesh.exclude-outbound-cidrs',
  gateway: 'mesh.gateway',
  labels: 'mesh.labels',
} as const;

function checkLabels(labels: Record<string, string>, path: string, out: Violation[]): void {
  for (const [k, v] of Object.entries(labels)) {
    const problem = labelProblem(k, v);
    if (problem) out.push({ path, message: problem });
    else if (k === 'app' || k === 'version' || k === 'service') out.push({ path, message: `"${k}" is set by the mesh (from the service name and version); choose another label` });
  }
}

/** `istio=ingressgateway,team=edge` -> { istio: 'ingressgateway', team: 'edge' }. */
function labelList(text: string, path: string, out: Violation[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) out.push({ path, message: `"${part}" is not KEY=VALUE; write labels as "istio=ingressgateway,team=edge"` });
    else labels[part.slice(0, i)] = part.slice(i + 1);
  }
  checkLabels(labels, path, out);
  return labels;
}

/** Labels the agent puts on the sidecars it starts; how it finds them again after a restart. */
export const SIDECAR_LABELS = {
  managedBy: 'mesh.managed-by',
  sidecarFor: 'mesh.sidecar-for',
  service: 'mesh.sidecar-service',
  instance: 'mesh.instance-id',
} as const;

const KNOWN_LABELS = new Set<string>(Object.values(LABELS));

function portList(text: string, label: string, out: Violation[]): number[] {
  const ports: number[] = [];
  for (const part of text.split(',').map((s) => s.trim())) {
    const n = Number(part);
    if (part === '' || !Number.isInteger(n) || n < 1 || n > 65535) out.push({ path: label, message: `"${part}" is not a port (1-65535); write ports as a comma-separated list such as "9080,9443"` });
    else ports.push(n);
  }
  return ports;
}

/**
 * Reads a container's mesh labels. Returns undefined when the container has no `mesh.service`
 * label and no other mesh label (it is not asking to join). `exposedPorts` fill in `mesh.port`
 * when the image exposes exactly one port.
 */
export function declarationFromLabels(labels: Record<string, string>, exposedPorts: number[] = []): Parsed<WorkloadDeclaration> | undefined {
  const mine = Object.keys(labels).filter((k) => k.startsWith('mesh.') && !Object.values(SIDECAR_LABELS).includes(k as never));
  if (mine.length === 0) return undefined;
  const out: Violation[] = [];
  for (const k of mine) {
    if (!KNOWN_LABELS.has(k)) out.push({ path: k, message: `unknown mesh label; known labels: ${[...KNOWN_LABELS].join(', ')}` });
  }
  const service = labels[LABELS.service];
  if (service === undefined) out.push({ path: LABELS.service, message: 'is required to join the mesh: the service name, e.g. mesh.service=reviews' });
  else if (!NAME.test(service)) out.push({ path: LABELS.service, message: `"${service}" is not a valid service name: lowercase letters, digits and "-"` });
  const namespace = labels[LABELS.namespace] ?? 'default';
  if (!NAME.test(namespace)) out.push({ path: LABELS.namespace, message: `"${namespace}" is not a valid namespace` });
  const serviceAccount = labels[LABELS.serviceAccount];
  if (serviceAccount !== undefined && !NAME.test(serviceAccount))
    out.push({ path: LABELS.serviceAccount, message: `"${serviceAccount}" is not a valid service account name: lowercase letters, digits and "-"` });
  const protocol = (labels[LABELS.protocol] ?? 'http') as AppProtocol;
  if (!PROTOCOLS.includes(protocol)) out.push({ path: LABELS.protocol, message: `"${protocol}" is not one of ${PROTOCOLS.join(', ')}` });
  const version = labels[LABELS.version];
  if (version !== undefined && !/^[A-Za-z0-9._-]{1,63}$/.test(version)) out.push({ path: LABELS.version, message: `"${version}" is not a valid label value (letters, digits, . _ -, at most 63)` });

  const gatewayText = labels[LABELS.gateway];
  if (gatewayText !== undefined && gatewayText !== 'true' && gatewayText !== 'false') out.push({ path: LABELS.gateway, message: `"${gatewayText}" is neither "true" nor "false"` });
  const gateway = gatewayText === 'true';
  const extraLabels = labels[LABELS.labels] !== undefined ? labelList(labels[LABELS.labels], LABELS.labels, out) : {};

  let ports: number[] = [];
  if (gateway) {
    // A gateway listens where its Gateway servers say; mesh.port, when given, is where mesh
    // workloads reach it (an egress gateway), and registers it in the catalog under its service.
    if (labels[LABELS.port] !== undefined) ports = portList(labels[LABELS.port], LABELS.port, out);
  } else if (labels[LABELS.port] !== undefined) ports = portList(labels[LABELS.port], LABELS.port, out);
  else if (exposedPorts.length === 1) ports = exposedPorts;
  else
    out.push({
      path: LABELS.port,
      message:
        exposedPorts.length === 0
          ? 'is required: the port the application listens on, e.g. mesh.port=9080'
          : `is required: the image exposes several ports (${exposedPorts.join(', ')}); say which the service uses`,
    });

  const excluded = labels[LABELS.excludePorts] !== undefined ? portList(labels[LABELS.excludePorts], LABELS.excludePorts, out) : [];
  const cidrs = (labels[LABELS.excludeOutboundCidrs] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const c of cidrs) if (!CIDR.test(c)) out.push({ path: LABELS.excludeOutboundCidrs, message: `"${c}" is not a CIDR such as 10.0.0.0/8` });
  checkPortClashes(ports, DEFAULT_SIDECAR_PORTS, LABELS.port, out);

  if (out.length > 0 || service === undefined) return { ok: false, violations: out };
  return {
    ok: true,
    value: {
      service,
      namespace,
      ...(version !== undefined ? { version } : {}),
      ...(serviceAccount !== undefined ? { serviceAccount } : {}),
      ports,
      protocol,
      excludeInboundPorts: excluded,
      excludeOutboundPorts: excluded,
      excludeOutboundCidrs: cidrs,
      sidecar: { ...DEFAULT_SIDECAR_PORTS },
      ...(gateway ? { gateway } : {}),
      ...(Object.keys(extraLabels).length > 0 ? { labels: extraLabels } : {}),
    },
  };
}

function checkPortClashes(ports: number[], sidecar: SidecarPorts, path: string, out: Violation[]): void {
  for (const [name, p] of Object.entries(sidecar)) {
    if (ports.includes(p)) out.push({ path, message: `port ${p} is the sidecar's ${name}; the application must listen on another port` });
  }
}

// ---- VM service files ---------------------------------------------------------------------

const serviceFileSchema = obj(
  {
    name: str({ nonEmpty: true, pattern: NAME, patternHint: 'is not a valid service name: lowercase letters, digits and "-"' }),
    namespace: str({ pattern: NAME, patternHint: 'is not a valid namespace' }),
    serviceAccount: str({ pattern: NAME, patternHint: 'is not a valid service account name: lowercase letters, digits and "-"' }),
    version: str({ pattern: /^[A-Za-z0-9._-]{1,63}$/, patternHint: 'is not a valid label value (letters, digits, . _ -, at most 63)' }),
    port,
    ports: arr(port, { min: 1 }),
    protocol: str({ enum: PROTOCOLS }),
    user: (v, path, out) => {
      if (typeof v === 'string' ? !/^[a-z_][a-z0-9_-]*$/.test(v) : !(typeof v === 'number' && Number.isInteger(v) && v >= 0)) out.push({ path, message: 'must be a user name or a numeric UID' });
    },
    excludeInboundPorts: arr(port),
    excludeOutboundPorts: arr(port),
    excludeOutboundCidrs: arr(str({ pattern: CIDR, patternHint: 'is not a CIDR such as 10.0.0.0/8' })),
    sidecar: obj({ inboundPort: port, outboundPort: port, adminPort: port, statusPort: port, dnsPort: port }),
    gateway: (v, path, out) => {
      if (typeof v !== 'boolean') out.push({ path, message: 'must be true or false' });
    },
    labels: (v, path, out) => {
      if (!isPlainObject(v) || Object.values(v).some((x) => typeof x !== 'string')) out.push({ path, message: 'must be a map of label names to string values, e.g. { istio: ingressgateway }' });
      else checkLabels(v as Record<string, string>, path, out);
    },
  },
  {
    required: ['name'],
    check: (v, _path, out) => {
      const given = ['port', 'ports'].filter((k) => v[k] !== undefined);
      if (given.length > 1) out.push({ path: 'ports', message: 'only one of port, ports may be set, found port and ports' });
      else if (v.gateway !== true && given.length === 0) out.push({ path: '.', message: 'one of port, ports is required' });
    },
  },
);

/** Reads one parsed service file (YAML or JSON). */
export function declarationFromServiceFile(doc: unknown): Parsed<WorkloadDeclaration> {
  const out: Violation[] = [];
  serviceFileSchema(doc, '', out);
  if (out.length > 0 || !isPlainObject(doc)) return { ok: false, violations: out };
  const d = doc as Record<string, unknown> & { sidecar?: Partial<SidecarPorts> };
  const gateway = d.gateway === true;
  const ports = (d.ports as number[] | undefined) ?? (d.port !== undefined ? [d.port as number] : []);
  const given = d.sidecar ?? {};
  // The DNS proxy's default follows the inbound port (15053 for 15006), so that services given
  // ports of their own on a shared VM get distinct DNS ports too.
  const sidecar = { ...DEFAULT_VM_SIDECAR_PORTS, ...given, dnsPort: given.dnsPort ?? (given.inboundPort ?? DEFAULT_VM_SIDECAR_PORTS.inboundPort) + DNS_PORT_OFFSET };
  checkPortClashes(ports, sidecar, d.ports ? 'ports' : 'port', out);
  if (new Set(Object.values(sidecar)).size !== Object.keys(sidecar).length) out.push({ path: 'sidecar', message: 'inboundPort, outboundPort, adminPort, statusPort and dnsPort must differ' });
  if (out.length > 0) return { ok: false, violations: out };
  return {
    ok: true,
    value: {
      service: d.name as string,
      namespace: (d.namespace as string | undefined) ?? 'default',
      ...(d.version !== undefined ? { version: d.version as string } : {}),
      ports,
      protocol: (d.protocol as AppProtocol | undefined) ?? 'http',
      excludeInboundPorts: (d.excludeInboundPorts as number[] | undefined) ?? [],
      excludeOutboundPorts: (d.excludeOutboundPorts as number[] | undefined) ?? [],
      excludeOutboundCidrs: (d.excludeOutboundCidrs as string[] | undefined) ?? [],
      sidecar,
      ...(d.user !== undefined ? { user: d.user as string | number } : {}),
      ...(d.serviceAccount !== undefined ? { serviceAccount: d.serviceAccount as string } : {}),
      ...(gateway ? { gateway } : {}),
      ...(isPlainObject(d.labels) && Object.keys(d.labels).length > 0 ? { labels: d.labels as Record<string, string> } : {}),
    },
  };
}

/**
 * Checks the services declared on one VM together: they share a network namespace, so their
 * sidecars' ports and their app ports must not collide, and with several services each needs
 * `user` so that its outbound traffic reaches its own sidecar. Violations name the files.
 */
export function checkHostServices(decls: { file: string; decl: WorkloadDeclaration }[]): Violation[] {
  const out: Violation[] = [];
  const owner = new Map<number, string>();
  const names = new Map<string, string>();
  for (const { file, decl } of decls) {
    const prior = names.get(`${decl.namespace}/${decl.service}`);
    if (prior) out.push({ document: file, path: 'name', message: `service ${decl.service} is also declared in ${prior}` });
    names.set(`${decl.namespace}/${decl.service}`, file);
    if (decls.filter((x) => !x.decl.gateway).length > 1 && decl.user === undefined && !decl.gateway)
      out.push({ document: file, path: 'user', message: 'is required when a host declares several services: the user the application runs as, so that its outbound traffic reaches its own sidecar' });
    const claims: [string, number][] = [...decl.ports.map((p, i): [string, number] => [`ports[${i}]`, p]), ...Object.entries(decl.sidecar).map(([k, p]): [string, number] => [`sidecar.${k}`, p])];
    for (const [path, p] of claims) {
      const other = owner.get(p);
      if (other && other !== file)
        out.push({
          document: file,
          path,
          message: `port ${p} is already used by ${other}${decls.length > 1 ? '; give each service its own sidecar ports (sidecar.inboundPort, outboundPort, adminPort, statusPort, dnsPort)' : ''}`,
        });
      else owner.set(p, file);
    }
  }
  return out;
}

/** The instance's catalog labels. */
export function instanceLabels(d: WorkloadDeclaration): Record<string, string> {
  return { ...(d.labels ?? {}), ...(d.version ? { version: d.version } : {}) };
}
