// Controller options, checked with messages that say what to do (the way nats.js and undici
// reject options), from flags and MESH_* environment variables.
import { parseDurationMs } from '../core/duration.js';
import { MeshError } from '../core/errors.js';
import { isValidTrustDomain } from '../core/pki/spiffe.js';

export interface ControllerOptions {
  dataDir: string;
  host: string;
  port: number;
  /** `host:port` of a Consul agent's HTTP API; absent means the embedded registry and a file store. */
  consul?: string;
  consulKvPrefix: string;
  trustDomain: string;
  rootNamespace: string;
  leafTtlMs: number;
  rootLifetimeMs: number;
  bodyLimitBytes: number;
  /** Extra DNS names and IPs for the API's serving certificate. */
  apiNames: string[];
  adminToken?: string;
  /** Where host agents on this host find the CA bundle and an agent token (never the admin token). */
  shareDir?: string;
  coalesceMs: number;
  maxDelayMs: number;
  telemetryWindowMs: number;
  maxWatchMs: number;
  /** SIGTERM: how long requests in flight get to finish (open watches are answered at once). */
  drainTimeoutMs: number;
  /** Consul mode, leader only: mesh instances of a host whose Consul agent has been failed this long are deregistered. */
  staleHostAfterMs: number;
  /** A YAML file with Istio MeshConfig extensionProviders (external authorizers for AuthorizationPolicy CUSTOM). */
  meshConfigFile?: string;
}

export interface RawControllerOptions {
  dataDir?: string;
  listen?: string;
  consul?: string;
  consulKvPrefix?: string;
  trustDomain?: string;
  rootNamespace?: string;
  leafTtl?: string;
  rootLifetime?: string;
  bodyLimit?: number;
  apiNames?: string[];
  adminToken?: string;
  shareDir?: string;
  coalesce?: string;
  telemetryWindow?: string;
  meshConfig?: string;
  drainTimeout?: string;
  staleHostAfter?: string;
}

export const DEFAULT_LISTEN = '127.0.0.1:15012';

export function resolveControllerOptions(raw: RawControllerOptions): ControllerOptions {
  const problems: string[] = [];
  const duration = (name: string, text: string | undefined, fallback: string): number => {
    const r = parseDurationMs(text ?? fallback);
    if (typeof r === 'string') {
      problems.push(`--${name}: ${r}`);
      return 0;
    }
    return r;
  };
  const [host, port] = splitHostPort(raw.listen ?? DEFAULT_LISTEN, '--listen', problems);
  if (raw.consul !== undefined) splitHostPort(raw.consul, '--consul', problems);
  const trustDomain = raw.trustDomain ?? 'cluster.local';
  if (!isValidTrustDomain(trustDomain)) problems.push(`--trust-domain: "${trustDomain}" is not a valid trust domain; use lowercase letters, digits, ".", "-" and "_" (e.g. "mesh.example")`);
  const bodyLimit = raw.bodyLimit ?? 1024 * 1024;
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1024) problems.push(`--body-limit: must be a whole number of bytes, at least 1024, got ${raw.bodyLimit}`);
  const prefix = raw.consulKvPrefix ?? 'mesh/';
  if (!/^[A-Za-z0-9._/-]*\/$/.test(prefix)) problems.push(`--consul-kv-prefix: "${prefix}" must end with "/" and hold letters, digits, ".", "_", "-" and "/" only`);
  const opts: ControllerOptions = {
    dataDir: raw.dataDir ?? '.mesh',
    host,
    port,
    consulKvPrefix: prefix,
    trustDomain,
    rootNamespace: raw.rootNamespace ?? 'istio-system',
    leafTtlMs: duration('leaf-ttl', raw.leafTtl, '24h'),
    rootLifetimeMs: duration('root-lifetime', raw.rootLifetime, '87600h'),
    bodyLimitBytes: bodyLimit,
    apiNames: raw.apiNames ?? [],
    coalesceMs: duration('coalesce', raw.coalesce, '20ms'),
    maxDelayMs: 250,
    telemetryWindowMs: duration('telemetry-window', raw.telemetryWindow, '60s'),
    maxWatchMs: 60_000,
    drainTimeoutMs: duration('drain-timeout', raw.drainTimeout, '10s'),
    staleHostAfterMs: duration('stale-host-after', raw.staleHostAfter, '10m'),
  };
  if (raw.consul) opts.consul = raw.consul;
  if (raw.adminToken) opts.adminToken = raw.adminToken;
  if (raw.shareDir) opts.shareDir = raw.shareDir;
  if (raw.meshConfig) opts.meshConfigFile = raw.meshConfig;
  if (opts.leafTtlMs && opts.leafTtlMs < 60_000) problems.push('--leaf-ttl: must be at least 1m so that renewal has time to happen');
  if (opts.rootLifetimeMs && opts.leafTtlMs > opts.rootLifetimeMs) problems.push('--leaf-ttl: must be shorter than --root-lifetime');
  if (problems.length > 0) throw new MeshError('INVALID_ARGUMENT', `invalid controller options:\n  ${problems.join('\n  ')}`);
  return opts;
}

function splitHostPort(text: string, flag: string, problems: string[]): [string, number] {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 0 || port > 65535) {
    problems.push(`${flag}: "${text}" is not host:port (e.g. 127.0.0.1:15012)`);
    return ['127.0.0.1', 0];
  }
  return [m[1].replace(/^\[|\]$/g, ''), port];
}
