#!/usr/bin/env -S node --max-semi-space-size=2
// The small young generation keeps the sidecar's RSS down under load at no measured cost in throughput
// (bench/data-path.ts: about 110 MB with the default, about 88 MB with 2 MB semi-spaces).
// mesh-proxy: the sidecar beside one service instance.
import { existsSync, readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { MeshError } from '../core/errors.js';
import { createLogger } from '../common/logger.js';
import { onStopSignals } from '../common/stop-signals.js';
import { Sidecar } from './sidecar.js';

const argv = yargs(hideBin(process.argv))
  .scriptName('mesh-proxy')
  .usage("$0 --service NAME --app-port PORT [options]\n\nThe sidecar: carries its service instance's inbound and outbound traffic.")
  .env('MESH_PROXY')
  .option('controller', { type: 'string', default: 'https://127.0.0.1:15012', describe: 'controller URL' })
  .option('ca-file', { type: 'string', describe: 'CA bundle to trust the controller (the controller writes it to <data-dir>/ca.pem)' })
  .option('ca-pem', { type: 'string', describe: 'the same bundle as PEM text; how the agent hands it to sidecar containers (MESH_PROXY_CA_PEM)' })
  .check((a) => (a['ca-file'] || a['ca-pem'] ? true : 'give the controller CA bundle: --ca-file FILE or MESH_PROXY_CA_PEM (the controller writes it to <data-dir>/ca.pem)'))
  .option('bootstrap-token', { type: 'string', describe: 'token from `meshctl token create --service NAME` (needed until a certificate is stored)' })
  .option('service', { type: 'string', demandOption: 'name the service: --service NAME' })
  .option('namespace', { type: 'string', default: 'default' })
  .option('proxy-id', { type: 'string', describe: 'instance id in the catalog (default: <service>-<hostname>)' })
  .option('trust-domain', { type: 'string', default: 'cluster.local' })
  .option('data-dir', { type: 'string', default: '.mesh-proxy', describe: 'keeps the certificate, key and last good snapshot' })
  .option('app-port', { type: 'number', demandOption: 'give the application port: --app-port PORT' })
  .option('app-host', { type: 'string', default: '127.0.0.1' })
  // Where the kernel has IPv6, '::' takes both families (Node clears IPV6_V6ONLY), so that
  // traffic the agent's ip6tables rules redirect finds the sidecar as IPv4 traffic does.
  .option('bind', {
    type: 'string',
    default: existsSync('/proc/net/if_inet6') ? '::' : '0.0.0.0',
    describe: 'address the listeners bind to (default: every address, IPv6 too where the kernel has it)',
  })
  .option('inbound-port', { type: 'number', default: 15006 })
  .option('outbound-port', { type: 'number', default: 15001, describe: 'capture listener for redirected traffic; -1 disables' })
  .option('admin-port', { type: 'number', default: 15000, describe: 'admin interface (snapshot, certificate, drain), on --admin-bind' })
  .option('admin-bind', { type: 'string', default: '127.0.0.1', describe: 'address the admin interface listens on; keep it on loopback: it serves the snapshot and POST /drain to whoever reaches it' })
  .option('status-port', { type: 'number', default: 15020, describe: "readiness (/healthz/ready), the app's health (/healthz/app) and Prometheus metrics (/stats/prometheus), on --bind; -1 disables" })
  .option('upstream', { type: 'array', string: true, default: [], describe: 'explicit local listener SERVICE=PORT (rootless setups), repeatable' })
  .option('drain-timeout', { type: 'number', default: 20, describe: 'seconds that requests in flight get to finish after SIGTERM' })
  .option('headers-timeout', { type: 'number', default: 10, describe: 'seconds a client has to send a request head' })
  .option('idle-timeout', { type: 'number', default: 60, describe: 'seconds of silence after which a client connection is closed' })
  .option('protocol-detection-timeout', {
    type: 'number',
    default: 1,
    describe:
      'seconds a captured connection to a port that declares no protocol may stay silent before it is carried as TCP (server-first protocols such as MySQL wait this long once; declare their ports tcp to skip it)',
  })
  .check((a) => (a['protocol-detection-timeout'] > 0 ? true : `--protocol-detection-timeout must be more than 0 seconds, got ${a['protocol-detection-timeout']}`))
  .option('cert-renew-at', { type: 'number', default: 0.5, describe: 'renew the certificate when this fraction of its lifetime has passed' })
  .check((a) => (a['cert-renew-at'] > 0 && a['cert-renew-at'] < 1 ? true : `--cert-renew-at must be a fraction between 0 and 1 (0.5 renews at half the lifetime), got ${a['cert-renew-at']}`))
  .option('telemetry-interval', { type: 'number', default: 10, describe: 'seconds between request summaries sent to the controller' })
  .option('otlp-endpoint', { type: 'string', describe: 'OpenTelemetry collector traces URL (OTLP/HTTP JSON), e.g. http://otel-collector:4318/v1/traces; tracing is off without it' })
  .option('trace-sampling', { type: 'number', default: 1, describe: "percent of new traces to sample (a caller's sampled flag is always honoured)" })
  .check((a) => (a['trace-sampling'] >= 0 && a['trace-sampling'] <= 100 ? true : `--trace-sampling must be a percentage from 0 to 100, got ${a['trace-sampling']}`))
  .option('outbound-traffic-policy', {
    choices: ['ALLOW_ANY', 'REGISTRY_ONLY'] as const,
    default: 'ALLOW_ANY' as const,
    describe: 'captured HTTP to a host that is no mesh service: ALLOW_ANY passes it through, REGISTRY_ONLY answers 404',
  })
  .option('http1-relay', { type: 'boolean', default: true, describe: "carry plain HTTP/1.1 requests as bytes (fast); --no-http1-relay uses Node's HTTP server and client for every request" })
  .option('log-level', { type: 'string', default: 'info' })
  .strict()
  .parseSync();

const log = createLogger('mesh-proxy', argv['log-level']);

async function main(): Promise<void> {
  const upstreams = (argv.upstream as string[]).map((u) => {
    const m = /^([a-z0-9][-a-z0-9.]*)=(\d+)$/.exec(u);
    if (!m) throw new MeshError('INVALID_ARGUMENT', `--upstream "${u}" is not SERVICE=PORT (e.g. reviews=19080)`);
    return { service: m[1], port: Number(m[2]) };
  });
  const sidecar = new Sidecar(
    {
      controller: argv.controller,
      controllerCa: argv['ca-pem'] || readFileSync(argv['ca-file']!, 'utf8'),
      bootstrapToken: argv['bootstrap-token'],
      service: argv.service,
      namespace: argv.namespace,
      proxyId: argv['proxy-id'] ?? `${argv.service}-${process.env.HOSTNAME ?? 'local'}`,
      trustDomain: argv['trust-domain'],
      dataDir: argv['data-dir'],
      appHost: argv['app-host'],
      appPort: argv['app-port'],
      bindHost: argv.bind,
      inboundPort: argv['inbound-port'],
      outboundPort: argv['outbound-port'],
      adminPort: argv['admin-port'],
      adminBindHost: argv['admin-bind'],
      statusPort: argv['status-port'],
      upstreams,
      drainTimeoutMs: argv['drain-timeout'] * 1000,
      telemetryIntervalMs: argv['telemetry-interval'] * 1000,
      headersTimeoutMs: argv['headers-timeout'] * 1000,
      idleTimeoutMs: argv['idle-timeout'] * 1000,
      protocolDetectionTimeoutMs: argv['protocol-detection-timeout'] * 1000,
      certRenewAt: argv['cert-renew-at'],
      http1Relay: argv['http1-relay'],
      outboundTrafficPolicy: argv['outbound-traffic-policy'],
      ...(argv['otlp-endpoint'] ? { tracing: { endpoint: argv['otlp-endpoint'], samplingPercent: argv['trace-sampling'] } } : {}),
    },
    log,
  );
  await sidecar.start();
  onStopSignals(log, 'draining', () => sidecar.shutdown());
}

main().catch((err: unknown) => {
  process.stderr.write(`mesh-proxy: ${err instanceof MeshError ? err.message : ((err as Error).stack ?? String(err))}\n`);
  process.exit(1);
});
