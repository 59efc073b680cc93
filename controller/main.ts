#!/usr/bin/env node
// mesh-controller: the control plane.
import { setFlagsFromString } from 'node:v8';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { MeshError } from '../core/errors.js';
import { Controller } from './controller.js';
import { createLogger } from '../common/logger.js';
import { onStopSignals } from '../common/stop-signals.js';
import { DEFAULT_LISTEN, resolveControllerOptions, type ControllerOptions } from './options.js';

const argv = yargs(hideBin(process.argv))
  .scriptName('mesh-controller')
  .usage('$0 [options]\n\nRuns the mesh control plane: catalog, CA, config snapshots, REST API over TLS.')
  .env('MESH')
  .option('data-dir', { type: 'string', default: '.mesh', describe: 'where the admin token, CA bundle and (without Consul) all state are kept' })
  .option('listen', { type: 'string', default: DEFAULT_LISTEN, describe: 'host:port of the REST API (TLS)' })
  .option('consul', { type: 'string', describe: 'host:port of a Consul agent; without it the embedded registry is used' })
  .option('consul-kv-prefix', { type: 'string', default: 'mesh/', describe: 'Consul KV prefix for resources and CA' })
  .option('trust-domain', { type: 'string', default: 'cluster.local', describe: 'SPIFFE trust domain of workload identities' })
  .option('root-namespace', { type: 'string', default: 'istio-system', describe: 'policies in this namespace apply mesh-wide' })
  .option('leaf-ttl', { type: 'string', default: '24h', describe: 'lifetime of workload certificates' })
  .option('api-name', { type: 'array', string: true, describe: 'extra DNS names or IPs for the API certificate: every name agents on other hosts use (repeat, or comma-separate)' })
  .option('admin-token', { type: 'string', describe: 'use this admin token instead of the one in the data directory' })
  .option('share-dir', { type: 'string', describe: 'also write ca.pem and a host agent token here, for agents that mount it (the admin token stays in --data-dir)' })
  .option('mesh-config', { type: 'string', describe: 'a YAML file with Istio MeshConfig extensionProviders (envoyExtAuthzHttp), the external authorizers AuthorizationPolicy CUSTOM names' })
  .option('stale-host-after', {
    type: 'string',
    default: '10m',
    describe: 'with Consul: mesh instances of a host whose Consul agent has been failed this long leave the catalog (the leading controller clears them)',
  })
  .option('drain-timeout', { type: 'string', default: '10s', describe: 'on SIGTERM: open watches are answered at once (proxies go to another controller), requests in flight get this long to finish' })
  .option('body-limit', { type: 'number', default: 1024 * 1024, describe: 'largest request body in bytes; larger ones get 413' })
  .option('log-level', { type: 'string', default: 'info', choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'], describe: 'JSON log level (logs go to stderr)' })
  .strict()
  .parseSync();

const log = createLogger('mesh-controller', argv['log-level']);

// V8 lets its old generation grow to several times the live objects before collecting them, and
// each push to thousands of proxies leaves garbage that lives long enough to be promoted there.
// Growth capped at 1.2 x: at 5,000 proxies per controller, 513-525 MB after a series of changes
// instead of 650-728 MB (peak 516-525 against 770-819), push times the same within the noise
// (docs/scaling.md). A --heap-growing-percent on the command line wins.
if (!process.execArgv.some((a) => a.startsWith('--heap-growing-percent'))) setFlagsFromString('--heap-growing-percent=20');

async function main(): Promise<void> {
  const options = resolveControllerOptions({
    dataDir: argv['data-dir'],
    listen: argv.listen,
    consul: argv.consul,
    consulKvPrefix: argv['consul-kv-prefix'],
    trustDomain: argv['trust-domain'],
    rootNamespace: argv['root-namespace'],
    leafTtl: argv['leaf-ttl'],
    // Repeated flags, or one comma-separated list (MESH_API_NAME=10.0.0.5,controller.internal).
    apiNames: argv['api-name']
      ?.flatMap((n) => String(n).split(','))
      .map((n) => n.trim())
      .filter(Boolean),
    adminToken: argv['admin-token'],
    shareDir: argv['share-dir'],
    bodyLimit: argv['body-limit'],
    meshConfig: argv['mesh-config'],
    drainTimeout: argv['drain-timeout'],
    staleHostAfter: argv['stale-host-after'],
  });
  const controller = await startWhenConsulAnswers(options);
  onStopSignals(log, 'draining', () => controller.drain());
}

/**
 * A Consul that is starting (no leader yet) or briefly away is waited for, not a reason to exit:
 * compose starts both at once, and systemd would restart us in a loop. Other errors are final.
 */
async function startWhenConsulAnswers(options: ControllerOptions): Promise<Controller> {
  for (let attempt = 1; ; attempt++) {
    const controller = new Controller(options, log);
    try {
      await controller.start();
      return controller;
    } catch (err) {
      await controller.close().catch(() => undefined);
      if (!(options.consul && err instanceof MeshError && err.code === 'UNAVAILABLE')) throw err;
      if (attempt === 1 || attempt % 10 === 0) log.warn({ consul: options.consul, err: err.message, attempt }, 'waiting for Consul');
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * attempt)));
    }
  }
}

main().catch((err: unknown) => {
  const message = err instanceof MeshError ? err.message : ((err as Error).stack ?? String(err));
  process.stderr.write(`mesh-controller: ${message}\n`);
  process.exit(1);
});
