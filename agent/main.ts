#!/usr/bin/env node
// mesh-agent: the host agent (root). `mesh-agent docker` meshes labelled containers;
// `mesh-agent vm` meshes the services declared in a VM's service files; `mesh-agent capture` is
// what the sidecar units run to install and remove capture rules.
import { hostname } from 'node:os';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { AgentSettings } from '../core/agent/plan.js';
import { parseDurationFlag } from '../core/duration.js';
import { MeshError } from '../core/errors.js';
import { fetchPinnedBundle } from '../common/ca-pinning.js';
import { createLogger } from '../common/logger.js';
import { onStopSignals } from '../common/stop-signals.js';
import { MeshAgent } from './agent.js';
import { ControllerList, parseControllers } from '../common/controller-list.js';
import Consul from 'consul';
import { ConsulAgentRegistrar, consulAt } from '../common/consul-registration.js';
import { HttpControllerLink, LocalRegistrationLink } from './controller-link.js';
import { captureCommand, captureOptions, type CaptureAction } from './capture-command.js';
import { startDockerAgent, startVmAgent } from './modes.js';
import { SystemdSidecarRuntime } from './runtime/systemd-runtime.js';

const ports =
  (what: string) =>
  (v: unknown): number[] => {
    const list = (Array.isArray(v) ? v : [v])
      .flatMap((x) => String(x).split(','))
      .map((s) => s.trim())
      .filter(Boolean);
    return list.map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new MeshError('INVALID_ARGUMENT', `--${what}: "${s}" is not a port`);
      return n;
    });
  };

/** A duration flag ("30s", "500ms"), as every component writes them; milliseconds after parsing. */
const duration =
  (what: string) =>
  (given: unknown): number => {
    const v = Array.isArray(given) ? given[given.length - 1] : given; // given twice: the last one wins
    const ms = parseDurationFlag(what, String(v));
    if (typeof ms === 'string') throw new MeshError('INVALID_ARGUMENT', ms);
    return ms;
  };

function common<T>(y: Argv<T>) {
  return y
    .option('controller', {
      type: 'string',
      describe: 'controller URL, or several comma-separated (the agent and its sidecars fail over between them; default: from --data-dir, else https://127.0.0.1:15012)',
    })
    .option('ca-file', { type: 'string', describe: 'CA bundle that signs the controller certificate' })
    .option('ca-fingerprint', {
      type: 'string',
      describe: "instead of --ca-file: the SHA-256 fingerprint of the controller's root (from `meshctl ca roots`); the bundle is fetched and kept only if a root has it",
    })
    .option('token', { type: 'string', describe: 'admin token (better: MESH_TOKEN, or --data-dir)' })
    .option('data-dir', { type: 'string', describe: "the controller's data directory when it is readable here (ca.pem, admin-token)" })
    .option('proxy-uid', { type: 'number', default: 1337, describe: 'UID the sidecars run as; capture exempts it' })
    .option('trust-domain', { type: 'string', default: 'cluster.local' })
    .option('exclude-inbound-ports', { type: 'string', default: '', describe: 'never captured inbound, comma-separated (e.g. 22)', coerce: ports('exclude-inbound-ports') })
    .option('exclude-outbound-ports', { type: 'string', default: '', describe: 'never captured outbound, comma-separated (e.g. 8500 for a local Consul)', coerce: ports('exclude-outbound-ports') })
    .option('exclude-outbound-cidrs', { type: 'string', default: '', describe: 'never captured outbound, comma-separated CIDRs' })
    .option('otlp-endpoint', { type: 'string', describe: "passed to every sidecar: the OpenTelemetry collector's traces URL" })
    .option('trace-sampling', { type: 'number', default: 1, describe: 'passed to every sidecar: percent of new traces sampled' })
    .option('resync', { type: 'string', describe: 'time between full resyncs; events drive most work (default 30s)', coerce: duration('resync') })
    .option('ready-timeout', { type: 'string', describe: 'how long a new sidecar has to become ready (default 30s)', coerce: duration('ready-timeout') })
    .option('consul-agent', {
      type: 'string',
      describe: "host:port of this host's Consul agent: instances are registered with it (they then outlive any controller's host) instead of through the controller",
    })
    .option('log-level', { type: 'string', default: 'info' });
}

interface AgentArgs {
  _: (string | number)[];
  controller?: string;
  'ca-file'?: string;
  'ca-fingerprint'?: string;
  token?: string;
  'data-dir'?: string;
  'proxy-uid': number;
  'trust-domain': string;
  'exclude-inbound-ports': number[];
  'exclude-outbound-ports': number[];
  'exclude-outbound-cidrs': string;
  /** Milliseconds, from a duration such as 30s. */
  resync?: number;
  'otlp-endpoint'?: string;
  'trace-sampling': number;
  'ready-timeout'?: number;
  'log-level': string;
  /** host:port of this host's Consul agent. */
  'consul-agent'?: string;
  'docker-socket'?: string;
  'sidecar-image'?: string;
  'config-dir'?: string;
  address?: string;
  'state-dir'?: string;
  'instance-prefix'?: string;
  runtime?: 'process' | 'systemd';
  'run-dir'?: string;
  action?: CaptureAction;
  instance?: string;
  'wait-ready'?: number;
}

/** Options shared by `vm` and `capture`, which must agree on service files and instance names. */
function vmFiles<T>(y: Argv<T>) {
  return y
    .option('config-dir', { type: 'string', default: '/etc/mesh/services.d', describe: 'directory of service files (*.yaml, *.yml, *.json)' })
    .option('instance-prefix', { type: 'string', describe: 'instance ids are <service>-<prefix> (default: the host name)' })
    .option('run-dir', { type: 'string', default: '/run/mesh', describe: 'unit settings and the captured set (systemd runtime)' });
}

const argv = (await yargs(hideBin(process.argv))
  .scriptName('mesh-agent')
  .usage('$0 <docker|vm> [options]\n\nThe host agent: starts a sidecar beside each workload, captures its traffic and registers it.')
  .env('MESH_AGENT')
  .command('docker', 'mesh containers labelled mesh.service=<name> on the local Docker engine', (y) =>
    common(y)
      .option('docker-socket', { type: 'string', default: '/var/run/docker.sock' })
      .option('sidecar-image', { type: 'string', default: 'hostmesh/mesh:latest', describe: 'image the sidecar containers run' }),
  )
  .command('vm', 'mesh the services declared in service files (one YAML file per service)', (y) =>
    vmFiles(common(y))
      .option('address', { type: 'string', demandOption: 'give the address other hosts reach this VM at: --address IP', describe: "this VM's address in the catalog" })
      .option('runtime', { choices: ['process', 'systemd'] as const, describe: 'sidecars as child processes, or as mesh-proxy@<instance> units (default: systemd when it runs)' })
      .option('state-dir', { type: 'string', default: '/var/lib/mesh-agent', describe: 'sidecar state for the process runtime (certificates, pids, logs)' }),
  )
  .command('capture <action> <instance>', "install or remove one instance's capture rules (run by mesh-proxy@.service as root; release: a stop was requested)", (y) =>
    vmFiles(common(y))
      .positional('action', { choices: ['install', 'release', 'remove'] as const })
      .positional('instance', { type: 'string', describe: 'instance id, e.g. reviews-vm1' })
      .option('wait-ready', { type: 'string', describe: 'install: how long to wait for the sidecar to be ready first (default 30s)', coerce: duration('wait-ready') }),
  )
  .demandCommand(1, 'say which kind of host this is: mesh-agent docker, or mesh-agent vm')
  .strict()
  .parseAsync()) as unknown as AgentArgs;

const log = createLogger('mesh-agent', argv['log-level']);

async function main(): Promise<void> {
  if (argv._[0] === 'capture') {
    const runDir = String(argv['run-dir']);
    const done = await captureCommand(
      argv.action!,
      argv.instance!,
      captureOptions(runDir, {
        configDir: String(argv['config-dir']),
        runDir,
        instanceSuffix: argv['instance-prefix'] ?? hostname(),
        waitReadyMs: argv.action === 'install' ? (argv['wait-ready'] ?? 30_000) : 0,
        settings: settingsFrom(''),
      }),
    );
    log.info({ instance: argv.instance, action: argv.action }, done);
    return;
  }
  const controllerLink = new HttpControllerLink({ controller: argv.controller, caFile: argv['ca-file'], token: argv.token, dataDir: argv['data-dir'], caPem: await pinnedBundle() });
  const consulAgent = argv['consul-agent'] ?? process.env.MESH_CONSUL_AGENT;
  const link = consulAgent
    ? new LocalRegistrationLink(
        controllerLink,
        new ConsulAgentRegistrar(new Consul({ ...consulAt(consulAgent, '--consul-agent'), ...(process.env.CONSUL_HTTP_TOKEN ? { defaults: { token: process.env.CONSUL_HTTP_TOKEN } } : {}) })),
      )
    : controllerLink;
  if (!link.caPem) throw new MeshError('INVALID_ARGUMENT', 'no CA bundle for the controller: pass --ca-fingerprint (from `meshctl ca roots`), --ca-file, MESH_CA_FILE or --data-dir of the controller');
  const opts = { settings: settingsFrom(link.url), resyncMs: argv.resync ?? 30_000, readyTimeoutMs: argv['ready-timeout'] ?? 30_000 };
  const mode = String(argv._[0]);
  const agent: MeshAgent =
    mode === 'docker'
      ? await startDockerAgent({ socketPath: String(argv['docker-socket']), image: String(argv['sidecar-image']) }, link, opts, log)
      : await startVmAgent(
          {
            configDir: String(argv['config-dir']),
            address: String(argv.address),
            stateDir: String(argv['state-dir']),
            instancePrefix: argv['instance-prefix'],
            runtime: argv.runtime ?? (SystemdSidecarRuntime.available() ? 'systemd' : 'process'),
            runDir: String(argv['run-dir']),
          },
          link,
          opts,
          log,
        );
  log.info({ mode }, 'mesh-agent running');
  // Sidecars, rules and registrations stay: workloads keep working, and the next agent adopts them.
  onStopSignals(log, 'stopping; sidecars keep running', () => agent.drain());
}

/** With --ca-fingerprint (and no CA file): the controller's bundle, fetched and checked against the pinned root. */
async function pinnedBundle(): Promise<string | undefined> {
  const fingerprint = argv['ca-fingerprint'] ?? (process.env.MESH_CA_FINGERPRINT || undefined);
  if (!fingerprint || argv['ca-file'] || process.env.MESH_CA_FILE) return undefined;
  const controller = argv.controller ?? (process.env.MESH_CONTROLLER || undefined);
  if (!controller) throw new MeshError('INVALID_ARGUMENT', '--ca-fingerprint needs --controller (or MESH_CONTROLLER): the controller to fetch the bundle from');
  const urls = parseControllers(controller);
  if (typeof urls === 'string') throw new MeshError('INVALID_ARGUMENT', `--controller: ${urls}`);
  // Any controller of the mesh serves the same roots; the first that answers is checked against the pin.
  const bundle = await new ControllerList(urls).run((url) => fetchPinnedBundle(url, fingerprint));
  log.info({ controller, fingerprint }, 'CA bundle fetched and checked against the pinned root');
  return bundle;
}

function settingsFrom(controllerUrl: string): AgentSettings {
  return {
    controllerUrl,
    proxyUid: argv['proxy-uid'],
    trustDomain: argv['trust-domain'],
    excludeInboundPorts: argv['exclude-inbound-ports'],
    excludeOutboundPorts: argv['exclude-outbound-ports'],
    excludeOutboundCidrs: String(argv['exclude-outbound-cidrs'])
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    ...(argv['otlp-endpoint'] ? { tracing: { endpoint: argv['otlp-endpoint'], samplingPercent: argv['trace-sampling'] } } : {}),
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`mesh-agent: ${err instanceof MeshError ? err.message : ((err as Error).stack ?? String(err))}\n`);
  process.exit(1);
});
