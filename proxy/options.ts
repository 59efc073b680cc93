// The sidecar's options: the resolved shape the Sidecar runs with, and a pure resolver from
// what a person or the agent wrote (flags, MESH_PROXY_* variables) that fills in defaults and
// collects every problem into one error, as the controller's options do. Durations are written
// as everywhere in the mesh: "20s", "500ms", "1m".
import { parseDurationFlag } from '../core/duration.js';
import { MeshError } from '../core/errors.js';
import { isValidTrustDomain } from '../core/pki/spiffe.js';
import { parseLabel } from '../core/labels.js';
import { parseControllers } from '../common/controller-list.js';

/** A silent client is carried as TCP after this long, where its first bytes decide the protocol. */
export const DEFAULT_PROTOCOL_DETECTION_MS = 1000;

export interface SidecarOptions {
  /** The controller's URL, or several, comma-separated: the sidecar fails over between them. */
  controller: string;
  /** PEM bundle to trust the controller at first contact. */
  controllerCa: string;
  bootstrapToken?: string;
  service: string;
  namespace: string;
  /** The workload identity's service account (SPIFFE `sa/`), which its bootstrap token must name too; default: the service name. */
  serviceAccount?: string;
  proxyId: string;
  trustDomain: string;
  dataDir: string;
  appHost: string;
  appPort: number;
  bindHost: string;
  inboundPort: number;
  /**
   * The capture listener for iptables-redirected traffic: HTTP is routed by its Host header, and
   * other traffic by the address the application dialled (SO_ORIGINAL_DST). Negative: none.
   */
  outboundPort: number;
  /** The admin interface (snapshot, certificate, drain): on `adminBindHost`, loopback by default. */
  adminPort: number;
  /** Where the admin interface listens; default 127.0.0.1. Anything else exposes POST /drain and the snapshot to whoever can reach it. */
  adminBindHost?: string;
  /** Readiness, the app's health and metrics on `bindHost`, for the agent, the catalog's check and scrapers; absent: none. */
  statusPort?: number;
  /** Explicit local listeners for rootless setups: local port -> service. */
  upstreams: { port: number; service: string }[];
  drainTimeoutMs: number;
  /** How often request summaries go to the controller. */
  telemetryIntervalMs: number;
  /** Limits for slow or idle clients on every listener: the request head must arrive in time, and a connection that sends nothing for idleTimeoutMs (mid-request too) is closed. */
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  /**
   * How long a connection may stay silent, where its first bytes decide the protocol, before it
   * is carried as TCP (server-first protocols). Default 1 s, as short as misdetection of slow
   * HTTP clients allows (Linkerd waits 10 s).
   */
  protocolDetectionTimeoutMs?: number;
  /**
   * Plain HTTP/1.1 requests go through the byte relay (proxy/relay/) rather than Node's HTTP
   * server and client: about twice the throughput (bench/data-path.ts). Default on; false: Node's path only.
   */
  http1Relay?: boolean;
  /**
   * HTTP/2 and gRPC are relayed frame by frame (core/h2) rather than through Node's http2
   * streams, from the application to the mesh and from peers to an application that speaks
   * HTTP/2: about a quarter of the CPU per call. Default on; false: Node's path only.
   */
  h2Relay?: boolean;
  /**
   * Captured HTTP whose Host names no mesh service: ALLOW_ANY (default, as Istio) sends it to
   * that host directly; REGISTRY_ONLY answers 404 NR.
   */
  outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** When the certificate is renewed, as a fraction of its lifetime (default 0.5, as Istio's SECRET_GRACE_PERIOD_RATIO). */
  certRenewAt?: number;
  /** OTLP/HTTP trace export; absent: no spans are made. */
  tracing?: { endpoint: string; samplingPercent: number };
  /** The access log (Istio's JSON format): on stdout (default), off, or lines to a function (a sidecar run in-process); Telemetry resources shape it further. */
  accessLog?: 'stdout' | 'off' | ((line: string) => void);
  /** The DNS proxy on loopback (Istio's DNS proxying), for captured DNS queries; absent: none. */
  dns?: { port: number; upstream: { host: string; port: number } };
  /**
   * A gateway (Istio's ingress and egress gateways): no application and no inbound listener; its
   * listeners are the servers of the Gateway resources whose selector matches `labels`.
   */
  gateway?: boolean;
  /** This proxy's labels, for the controller's selectors (a gateway's `istio: ingressgateway`). */
  labels?: Record<string, string>;
}

/** What `mesh-proxy` is given, before checks: flags and environment as written. */
export interface RawSidecarOptions {
  controller?: string;
  /** The controller CA bundle's PEM text (read from --ca-file, or given as --ca-pem). */
  controllerCa?: string;
  bootstrapToken?: string;
  service?: string;
  namespace?: string;
  serviceAccount?: string;
  proxyId?: string;
  /** This host's name, for the default proxy id. */
  hostname?: string;
  trustDomain?: string;
  dataDir?: string;
  appHost?: string;
  appPort?: number;
  bind?: string;
  inboundPort?: number;
  outboundPort?: number;
  adminPort?: number;
  adminBind?: string;
  statusPort?: number;
  /** SERVICE=PORT, repeatable. */
  upstreams?: string[];
  drainTimeout?: string;
  headersTimeout?: string;
  idleTimeout?: string;
  protocolDetectionTimeout?: string;
  telemetryInterval?: string;
  certRenewAt?: number;
  otlpEndpoint?: string;
  traceSampling?: number;
  accessLog?: string;
  outboundTrafficPolicy?: string;
  http1Relay?: boolean;
  h2Relay?: boolean;
  /** -1 (the default): no DNS proxy. */
  dnsPort?: number;
  /** HOST or HOST:PORT of the resolver that names outside the mesh go to (main.ts reads /etc/resolv.conf). */
  dnsUpstream?: string;
  gateway?: boolean;
  /** KEY=VALUE, repeatable. */
  labels?: string[];
}

/** The defaults, in the words a person writes them; the flags' help shows these. */
export const SIDECAR_DEFAULTS = {
  controller: 'https://127.0.0.1:15012',
  namespace: 'default',
  trustDomain: 'cluster.local',
  dataDir: '.mesh-proxy',
  appHost: '127.0.0.1',
  inboundPort: 15006,
  outboundPort: 15001,
  adminPort: 15000,
  adminBind: '127.0.0.1',
  statusPort: 15020,
  drainTimeout: '20s',
  headersTimeout: '10s',
  idleTimeout: '60s',
  protocolDetectionTimeout: '1s',
  telemetryInterval: '10s',
  certRenewAt: 0.5,
  traceSampling: 1,
  outboundTrafficPolicy: 'ALLOW_ANY',
} as const;

const NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const UPSTREAM_RE = /^([a-z0-9][-a-z0-9.]*)=(\d+)$/;
/**
 * Checks everything and fills in the defaults; throws one INVALID_ARGUMENT error listing every
 * problem, each naming its flag and what to write instead. `bind` has no default here: it
 * depends on the host (main.ts decides).
 */
export function resolveSidecarOptions(raw: RawSidecarOptions, bindDefault = '0.0.0.0'): SidecarOptions {
  const problems: string[] = [];
  const D = SIDECAR_DEFAULTS;
  const duration = (flag: string, text: string | undefined, fallback: string, min: number): number => {
    const r = parseDurationFlag(flag, text ?? fallback);
    if (typeof r === 'string') {
      problems.push(r);
      return 0;
    }
    if (r < min) problems.push(`--${flag}: must be at least ${min} ms, got "${text}"`);
    return r;
  };
  const port = (flag: string, value: number | undefined, fallback: number, allowNone: boolean): number => {
    const v = value ?? fallback;
    const ok = Number.isInteger(v) && v <= 65535 && (v >= 0 || (allowNone && v === -1));
    if (!ok) problems.push(`--${flag}: ${String(value)} is not a port (0 to 65535${allowNone ? ', or -1 for none' : ''})`);
    return v;
  };

  const service = raw.service ?? '';
  if (!NAME_RE.test(service)) problems.push(`--service: ${service ? `"${service}" is not a service name (lowercase letters, digits and "-")` : 'name the service: --service NAME'}`);
  const namespace = raw.namespace ?? D.namespace;
  if (!NAME_RE.test(namespace)) problems.push(`--namespace: "${namespace}" is not a namespace name (lowercase letters, digits and "-")`);
  if (raw.serviceAccount !== undefined && !NAME_RE.test(raw.serviceAccount))
    problems.push(`--service-account: "${raw.serviceAccount}" is not a service account name (lowercase letters, digits and "-")`);
  const trustDomain = raw.trustDomain ?? D.trustDomain;
  if (!isValidTrustDomain(trustDomain)) problems.push(`--trust-domain: "${trustDomain}" is not a valid trust domain (lowercase letters, digits, ".", "-" and "_")`);
  const controller = raw.controller ?? D.controller;
  const controllers = parseControllers(controller);
  if (typeof controllers === 'string') problems.push(`--controller: ${controllers}`);
  if (!raw.controllerCa) problems.push('--ca-file: give the controller CA bundle: --ca-file FILE or MESH_PROXY_CA_PEM (the controller writes it to <data-dir>/ca.pem)');
  else if (!raw.controllerCa.includes('-----BEGIN CERTIFICATE-----')) problems.push('--ca-file: the CA bundle holds no PEM certificate');
  const gateway = raw.gateway === true;
  if (gateway && raw.appPort !== undefined) problems.push('--app-port: a gateway has no application; its ports are the servers of the Gateways that select its --label');
  if (!gateway && raw.appPort === undefined) problems.push('--app-port: give the application port: --app-port PORT');
  const appPort = gateway ? 0 : port('app-port', raw.appPort, 0, false);
  if (!gateway && raw.appPort === 0) problems.push('--app-port: 0 is not the port of an application');
  if (gateway && raw.dnsPort !== undefined && raw.dnsPort >= 0) problems.push('--dns-port: a gateway captures no application traffic, so it runs no DNS proxy');
  const labels: Record<string, string> = {};
  for (const l of raw.labels ?? []) {
    const kv = parseLabel(l);
    if (!kv) problems.push(`--label: "${l}" is not KEY=VALUE (e.g. istio=ingressgateway)`);
    else labels[kv[0]] = kv[1];
  }
  const upstreams: SidecarOptions['upstreams'] = [];
  for (const u of raw.upstreams ?? []) {
    const m = UPSTREAM_RE.exec(u);
    if (!m || Number(m[2]) > 65535) problems.push(`--upstream: "${u}" is not SERVICE=PORT (e.g. reviews=19080)`);
    else upstreams.push({ service: m[1], port: Number(m[2]) });
  }
  const certRenewAt = raw.certRenewAt ?? D.certRenewAt;
  if (!(certRenewAt > 0 && certRenewAt < 1)) problems.push(`--cert-renew-at: must be a fraction between 0 and 1 (0.5 renews at half the lifetime), got ${certRenewAt}`);
  const sampling = raw.traceSampling ?? D.traceSampling;
  if (!(sampling >= 0 && sampling <= 100)) problems.push(`--trace-sampling: must be a percentage from 0 to 100, got ${sampling}`);
  if (raw.otlpEndpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(raw.otlpEndpoint))
    problems.push(`--otlp-endpoint: "${raw.otlpEndpoint}" is not an http:// or https:// URL (e.g. http://otel-collector:4318/v1/traces)`);
  const policy = raw.outboundTrafficPolicy ?? D.outboundTrafficPolicy;
  if (policy !== 'ALLOW_ANY' && policy !== 'REGISTRY_ONLY') problems.push(`--outbound-traffic-policy: "${policy}" is neither ALLOW_ANY nor REGISTRY_ONLY`);

  const opts: SidecarOptions = {
    controller,
    controllerCa: raw.controllerCa ?? '',
    service,
    namespace,
    proxyId: raw.proxyId ?? `${service}-${raw.hostname ?? 'local'}`,
    trustDomain,
    dataDir: raw.dataDir ?? D.dataDir,
    appHost: raw.appHost ?? D.appHost,
    appPort,
    bindHost: raw.bind ?? bindDefault,
    inboundPort: port('inbound-port', raw.inboundPort, D.inboundPort, false),
    // A gateway captures nothing: its traffic arrives on its Gateway listeners.
    outboundPort: port('outbound-port', raw.outboundPort, gateway ? -1 : D.outboundPort, true),
    adminPort: port('admin-port', raw.adminPort, D.adminPort, false),
    adminBindHost: raw.adminBind ?? D.adminBind,
    statusPort: port('status-port', raw.statusPort, D.statusPort, true),
    upstreams,
    drainTimeoutMs: duration('drain-timeout', raw.drainTimeout, D.drainTimeout, 0),
    headersTimeoutMs: duration('headers-timeout', raw.headersTimeout, D.headersTimeout, 1),
    idleTimeoutMs: duration('idle-timeout', raw.idleTimeout, D.idleTimeout, 1),
    protocolDetectionTimeoutMs: duration('protocol-detection-timeout', raw.protocolDetectionTimeout, D.protocolDetectionTimeout, 1),
    telemetryIntervalMs: duration('telemetry-interval', raw.telemetryInterval, D.telemetryInterval, 100),
    certRenewAt,
    http1Relay: raw.http1Relay ?? true,
    h2Relay: raw.h2Relay ?? true,
    outboundTrafficPolicy: policy as SidecarOptions['outboundTrafficPolicy'],
    labels,
  };
  if (gateway) opts.gateway = true;
  if (raw.bootstrapToken) opts.bootstrapToken = raw.bootstrapToken;
  if (raw.serviceAccount) opts.serviceAccount = raw.serviceAccount;
  if (raw.otlpEndpoint) opts.tracing = { endpoint: raw.otlpEndpoint, samplingPercent: sampling };
  if (raw.accessLog !== undefined) {
    // Istio's meshConfig.accessLogFile spells stdout as /dev/stdout, and off as "".
    const a = raw.accessLog === '/dev/stdout' ? 'stdout' : raw.accessLog === '' ? 'off' : raw.accessLog;
    if (a === 'stdout' || a === 'off') opts.accessLog = a;
    else problems.push(`--access-log: "${raw.accessLog}" is not stdout (or /dev/stdout) or off`);
  }
  const dnsPort = port('dns-port', raw.dnsPort, -1, true);
  if (dnsPort >= 0) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+)(?::(\d{1,5}))?$/.exec(raw.dnsUpstream ?? '');
    if (!m || Number(m[2] ?? 53) > 65535)
      problems.push(
        `--dns-upstream: ${raw.dnsUpstream ? `"${raw.dnsUpstream}" is not HOST or HOST:PORT` : 'no resolver for names outside the mesh: /etc/resolv.conf names none; give --dns-upstream HOST[:PORT]'}`,
      );
    else opts.dns = { port: dnsPort, upstream: { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2] ?? 53) } };
  }
  if (problems.length > 0) throw new MeshError('INVALID_ARGUMENT', `invalid mesh-proxy options:\n  ${problems.join('\n  ')}`);
  return opts;
}
