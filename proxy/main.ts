#!/usr/bin/env -S node --max-semi-space-size=2 --single-threaded-gc --heap-growing-percent=20
// The small young generation keeps the sidecar's RSS down under load at no measured cost in throughput
// (bench/data-path.ts: about 110 MB with the default, about 88 MB with 2 MB semi-spaces). GC on the
// main thread only: under gRPC load about a tenth less CPU per call (no hand-offs to GC helper
// threads) and 8-12 MB less RSS; over HTTP/1.1 the same CPU and a shorter tail near the pair's
// limit, where helper threads wait for a busy core (docs/benchmarks.md). The old generation grows
// by a fifth between collections: 7-16 MB less private memory under load, the same CPU.
// The same flags as common/sidecar-process.ts (SIDECAR_NODE_FLAGS) and systemd/mesh-proxy@.service.
// mesh-proxy: the sidecar beside one service instance.
import { existsSync, readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { MeshError } from '../core/errors.js';
import { createLogger } from '../common/logger.js';
import { onStopSignals } from '../common/stop-signals.js';
import { hostname } from 'node:os';
import { resolverFromResolvConf } from './dns-proxy.js';
import { resolveSidecarOptions, SIDECAR_DEFAULTS } from './options.js';
import { Sidecar } from './sidecar.js';

// VirtualService regexes run against callers' paths and headers, and V8's engine backtracks: a
// pattern such as (a+)+ takes exponential time on a crafted path (Envoy's RE2 cannot). After
// excessive backtracking V8 runs the match again on its linear-time engine, which answers alike.
// That engine takes no backreferences or lookarounds (validation refuses them, as RE2 has
// neither) and no `i` flag (case-insensitive routes are written out in both cases instead,
// core/routing/case-fold.ts), nor nested repetitions multiplying past 16 such as (a{1,30})+:
// those are written out in smaller pieces and run on the linear engine from the start (the `l`
// flag, core/routing/linear-repetition.ts). Set before any route's regex is compiled;
// security.test.ts holds a sidecar to both.
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
setFlagsFromString('--enable-experimental-regexp-engine');

const D = SIDECAR_DEFAULTS;
const argv = yargs(hideBin(process.argv))
  .scriptName('mesh-proxy')
  .usage("$0 --service NAME --app-port PORT [options]\n\nThe sidecar: carries its service instance's inbound and outbound traffic. Durations are written with their unit: 20s, 500ms, 1m.")
  .env('MESH_PROXY')
  .option('controller', {
    type: 'string',
    describe: `controller URL (default ${D.controller}); several (repeat the flag, or separate with commas) for failover: requests go to the next one when one cannot be reached`,
  })
  .option('ca-file', { type: 'string', describe: 'CA bundle to trust the controller (the controller writes it to <data-dir>/ca.pem)' })
  .option('ca-pem', { type: 'string', describe: 'the same bundle as PEM text; how the agent hands it to sidecar containers (MESH_PROXY_CA_PEM)' })
  .option('bootstrap-token', { type: 'string', describe: 'token from `meshctl token create --service NAME` (needed until a certificate is stored)' })
  .option('service', { type: 'string', describe: 'the service this instance belongs to (required)' })
  .option('namespace', { type: 'string', describe: `default ${D.namespace}` })
  .option('service-account', {
    type: 'string',
    describe: "the identity's service account (spiffe://<trust-domain>/ns/<namespace>/sa/<account>); its bootstrap token must be made for it (default: the service name)",
  })
  .option('proxy-id', { type: 'string', describe: 'instance id in the catalog (default: <service>-<hostname>)' })
  .option('trust-domain', { type: 'string', describe: `default ${D.trustDomain}` })
  .option('data-dir', { type: 'string', describe: `keeps the certificate, key and last good snapshot (default ${D.dataDir})` })
  .option('app-port', { type: 'number', describe: 'the application port (required)' })
  .option('app-host', { type: 'string', describe: `default ${D.appHost}` })
  // Where the kernel has IPv6, '::' takes both families (Node clears IPV6_V6ONLY), so that
  // traffic the agent's ip6tables rules redirect finds the sidecar as IPv4 traffic does.
  .option('bind', { type: 'string', describe: 'address the listeners bind to (default: every address, IPv6 too where the kernel has it)' })
  .option('inbound-port', { type: 'number', describe: `default ${D.inboundPort}` })
  .option('outbound-port', { type: 'number', describe: `capture listener for redirected traffic; -1 disables (default ${D.outboundPort})` })
  .option('admin-port', { type: 'number', describe: `admin interface (snapshot, certificate, drain), on --admin-bind (default ${D.adminPort})` })
  .option('admin-bind', {
    type: 'string',
    describe: `address the admin interface listens on; keep it on loopback: it serves the snapshot and POST /drain to whoever reaches it (default ${D.adminBind})`,
  })
  .option('status-port', {
    type: 'number',
    describe: `readiness (/healthz/ready), the app's health (/healthz/app) and Prometheus metrics (/stats/prometheus), on --bind; -1 disables (default ${D.statusPort})`,
  })
  .option('upstream', { type: 'array', string: true, describe: 'explicit local listener SERVICE=PORT (rootless setups), repeatable' })
  .option('drain-timeout', { type: 'string', describe: `how long requests in flight get to finish after SIGTERM (default ${D.drainTimeout})` })
  .option('headers-timeout', { type: 'string', describe: `how long a client has to send a request head (default ${D.headersTimeout})` })
  .option('idle-timeout', { type: 'string', describe: `silence after which a client connection is closed (default ${D.idleTimeout})` })
  .option('protocol-detection-timeout', {
    type: 'string',
    describe: `how long a captured connection to a port that declares no protocol may stay silent before it is carried as TCP (server-first protocols such as MySQL wait this long once; declare their ports tcp to skip it) (default ${D.protocolDetectionTimeout})`,
  })
  .option('cert-renew-at', { type: 'number', describe: `renew the certificate when this fraction of its lifetime has passed (default ${D.certRenewAt})` })
  .option('telemetry-interval', { type: 'string', describe: `time between request summaries sent to the controller (default ${D.telemetryInterval})` })
  .option('otlp-endpoint', { type: 'string', describe: 'OpenTelemetry collector traces URL (OTLP/HTTP JSON), e.g. http://otel-collector:4318/v1/traces; tracing is off without it' })
  .option('trace-sampling', { type: 'number', describe: `percent of new traces to sample; a caller's sampled flag is always honoured (default ${D.traceSampling})` })
  .option('outbound-traffic-policy', {
    choices: ['ALLOW_ANY', 'REGISTRY_ONLY'] as const,
    describe: `captured HTTP to a host that is no mesh service: ALLOW_ANY passes it through, REGISTRY_ONLY answers 404 (default ${D.outboundTrafficPolicy})`,
  })
  .option('dns-port', {
    type: 'number',
    describe: "DNS proxy on 127.0.0.1 (UDP and TCP) that answers mesh service names and forwards the rest; the agent captures a VM app's DNS to it; -1 disables (default -1)",
  })
  .option('dns-upstream', { type: 'string', describe: 'HOST[:PORT] of the resolver for names outside the mesh (default: the first nameserver of /etc/resolv.conf)' })
  .option('gateway', { type: 'boolean', describe: 'run as a gateway (ingress or egress): no application; listens on the servers of the Gateways whose selector matches --label' })
  .option('label', { type: 'array', string: true, describe: "KEY=VALUE, repeatable: this proxy's labels for selectors, e.g. --label istio=ingressgateway" })
  .option('labels', { type: 'string', describe: 'KEY=VALUE,KEY=VALUE: labels as one flag (MESH_PROXY_LABELS), as the agent passes them' })
  .option('http1-relay', { type: 'boolean', describe: "carry plain HTTP/1.1 requests as bytes (fast, the default); --no-http1-relay uses Node's HTTP server and client for every request" })
  .option('h2-relay', {
    type: 'boolean',
    describe: "relay HTTP/2 and gRPC frame by frame (fast, the default): from the application, and to an application that speaks HTTP/2; --no-h2-relay uses Node's http2 streams",
  })
  .option('access-log', {
    type: 'string',
    describe: "the access log, one JSON line per request or connection in Istio's format: stdout (default) or off; Telemetry resources turn it off or filter it per workload",
  })
  .option('log-level', { type: 'string', default: 'info' })
  .strict()
  .parseSync();

const log = createLogger('mesh-proxy', argv['log-level']);

/** The host's resolver, as `host:port`, from /etc/resolv.conf; undefined when it names none. */
function hostResolver(): string | undefined {
  try {
    const r = resolverFromResolvConf(readFileSync('/etc/resolv.conf', 'utf8'));
    return r && `${r.host.includes(':') ? `[${r.host}]` : r.host}:${r.port}`;
  } catch {
    return undefined;
  }
}

/** A flag given twice: the last one wins, as the agent's own flags and most CLIs have it. */
function last(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** The CA bundle as text: given inline, or read from its file with an error that names it. */
function controllerCa(): string | undefined {
  if (argv['ca-pem']) return argv['ca-pem'];
  if (!argv['ca-file']) return undefined;
  try {
    return readFileSync(argv['ca-file'], 'utf8');
  } catch (err) {
    throw new MeshError('INVALID_ARGUMENT', `--ca-file: cannot read ${argv['ca-file']}: ${(err as Error).message}`, { cause: err });
  }
}

async function main(): Promise<void> {
  const options = resolveSidecarOptions(
    {
      // Several controllers: repeated flags, or one flag with commas.
      controller: ([] as unknown[]).concat(argv.controller ?? []).join(',') || undefined,
      controllerCa: controllerCa(),
      bootstrapToken: argv['bootstrap-token'],
      service: argv.service,
      namespace: argv.namespace,
      serviceAccount: argv['service-account'],
      proxyId: argv['proxy-id'],
      hostname: process.env.HOSTNAME ?? hostname(),
      trustDomain: argv['trust-domain'],
      dataDir: argv['data-dir'],
      appHost: argv['app-host'],
      appPort: argv['app-port'],
      bind: argv.bind,
      inboundPort: argv['inbound-port'],
      outboundPort: argv['outbound-port'],
      adminPort: argv['admin-port'],
      adminBind: argv['admin-bind'],
      statusPort: argv['status-port'],
      upstreams: argv.upstream as string[] | undefined,
      drainTimeout: last(argv['drain-timeout']),
      headersTimeout: last(argv['headers-timeout']),
      idleTimeout: last(argv['idle-timeout']),
      protocolDetectionTimeout: last(argv['protocol-detection-timeout']),
      telemetryInterval: last(argv['telemetry-interval']),
      certRenewAt: argv['cert-renew-at'],
      otlpEndpoint: argv['otlp-endpoint'],
      accessLog: argv['access-log'],
      traceSampling: argv['trace-sampling'],
      outboundTrafficPolicy: argv['outbound-traffic-policy'],
      http1Relay: argv['http1-relay'],
      h2Relay: argv['h2-relay'],
      dnsPort: argv['dns-port'],
      gateway: argv.gateway,
      labels: [...((argv.label as string[] | undefined) ?? []), ...(argv.labels ? argv.labels.split(',').filter(Boolean) : [])],
      // /etc/resolv.conf is read only for a sidecar that runs a DNS proxy.
      dnsUpstream: argv['dns-upstream'] ?? (argv['dns-port'] !== undefined && argv['dns-port'] >= 0 ? hostResolver() : undefined),
    },
    existsSync('/proc/net/if_inet6') ? '::' : '0.0.0.0',
  );
  const sidecar = new Sidecar(options, log);
  await sidecar.start();
  onStopSignals(log, 'draining', () => sidecar.drain());
}

main().catch((err: unknown) => {
  process.stderr.write(`mesh-proxy: ${err instanceof MeshError ? err.message : ((err as Error).stack ?? String(err))}\n`);
  process.exit(1);
});
