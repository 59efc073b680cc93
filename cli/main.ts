#!/usr/bin/env node
// meshctl: everything a person does with the mesh.
import { readFileSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { MeshError } from '../core/errors.js';
import { ControllerClient } from '../common/controller-client.js';
import { createAgentToken, createToken, revokeAgentTokens, roots, rotate, sign } from './commands/ca.js';
import { proxies, proxyConfig, proxySnapshot, proxyStatus, services, status } from './commands/mesh.js';
import { CONFIG_DUMP_KINDS, type ConfigDumpKind } from '../core/config-dump.js';
import { ALL_NAMESPACES, apply, get, readSources, remove } from './commands/resources.js';
import { analyzeMesh } from './commands/analyze.js';
import { describe } from './commands/describe.js';
import { dashboard } from './commands/dashboard.js';
import { createTlsSecret, deleteSecret, listSecrets } from './commands/secrets.js';

/** Parsed arguments as the handlers read them. */
interface Args {
  controller?: string;
  token?: string;
  'ca-file'?: string;
  'data-dir'?: string;
  output: string;
  namespace?: string;
  [key: string]: unknown;
}

const client = (a: Args) => new ControllerClient({ controller: a.controller, token: a.token, caFile: a['ca-file'], dataDir: a['data-dir'] });
/** Wraps a command: its result is printed to stdout. */
const run = (fn: (a: Args) => Promise<string>) => async (a: unknown) => {
  process.stdout.write(await fn(a as Args));
};
const ns = <T>(y: Argv<T>) => y.option('namespace', { alias: 'n', type: 'string', describe: 'namespace (default: "default")' });

/** yargs reads a lone "-" as an unknown flag; kubectl users write `-f -` for stdin. */
const STDIN = '/dev/stdin';
function argv(): string[] {
  const args = hideBin(process.argv);
  return args.map((a, i) => (a === '-' && ['-f', '--filename', '--csr'].includes(args[i - 1]) ? STDIN : a));
}

async function main(): Promise<void> {
  await yargs(argv())
    .scriptName('meshctl')
    .usage('$0 <command> [options]')
    .option('controller', { type: 'string', describe: 'controller URL (env MESH_CONTROLLER; default: from the data directory, else https://127.0.0.1:15012)' })
    .option('token', { type: 'string', describe: 'admin token (env MESH_TOKEN; default: <data-dir>/admin-token)' })
    .option('ca-file', { type: 'string', describe: 'CA bundle to trust the controller (env MESH_CA_FILE; default: <data-dir>/ca.pem)' })
    .option('data-dir', { type: 'string', describe: 'the controller data directory on this host (env MESH_DATA_DIR; default: .mesh, else /var/lib/mesh/controller where systemd/install.sh put it)' })
    .option('output', { alias: 'o', type: 'string', choices: ['table', 'yaml', 'json'], default: 'table', describe: 'output format' })
    .command(
      'apply',
      'create or update resources from YAML/JSON files, directories or stdin',
      (y) =>
        y
          .option('filename', { alias: 'f', type: 'array', string: true, demandOption: 'name what to apply with -f FILE, -f DIR or -f -', describe: 'file, directory or - for stdin' })
          .option('namespace', { alias: 'n', type: 'string', describe: 'namespace of the documents that name none (as kubectl apply -n); a document naming another one is refused' }),
      run((a) =>
        apply(
          client(a),
          readSources(
            (a.filename as string[]).map((f) => (f === STDIN ? '-' : f)),
            () => readFileSync(0, 'utf8'),
          ),
          a.namespace,
          (line) => process.stderr.write(line),
        ),
      ),
    )
    .command(
      'get <kind> [name]',
      `list or show resources (kinds: VirtualService|vs, DestinationRule|dr, ServiceEntry|se, Gateway|gw, PeerAuthentication|pa, AuthorizationPolicy|ap, RequestAuthentication|ra, Telemetry, Sidecar, LocalRateLimit|lrl)`,
      (y) =>
        ns(y.positional('kind', { type: 'string', demandOption: true }).positional('name', { type: 'string' })).option('all-namespaces', {
          alias: 'A',
          type: 'boolean',
          describe: 'list across every namespace',
        }),
      run((a) => get(client(a), a.kind as string, a.name as string | undefined, a['all-namespaces'] ? ALL_NAMESPACES : (a.namespace ?? 'default'), a.output)),
    )
    .command(
      'delete <kind> <name>',
      'delete a resource',
      (y) => ns(y.positional('kind', { type: 'string', demandOption: true }).positional('name', { type: 'string', demandOption: true })),
      run((a) => remove(client(a), a.kind as string, a.name as string, a.namespace)),
    )
    .command(
      'services',
      'services in the catalog with their healthy endpoints',
      {},
      run((a) => services(client(a), a.output)),
    )
    .command(
      'proxies',
      'proxies that watch the controller',
      {},
      run((a) => proxies(client(a), a.output)),
    )
    .command(
      ['proxy-status', 'ps'],
      "each proxy's sync with the controller, as istioctl proxy-status: SYNCED (it holds what it would be sent now), STALE (sent, not yet applied, or refused; a sidecar says what it applied a second later), NOT SENT",
      {},
      run((a) => proxyStatus(client(a), a.output)),
    )
    .command(
      ['proxy-config <kind> [proxy]', 'pc'],
      `what a sidecar runs, as it reports it (istioctl proxy-config): ${CONFIG_DUMP_KINDS.join('|')}|all PROXY; snapshot PROXY (or just PROXY) for the snapshot the controller compiled for it`,
      (y) => y.positional('kind', { type: 'string', demandOption: true }).positional('proxy', { type: 'string' }),
      run((a) => {
        const kind = String(a.kind).replace(/s$/, '');
        // `meshctl proxy-config PROXY`, as before the kinds: the compiled snapshot.
        if (a.proxy === undefined) return proxySnapshot(client(a), String(a.kind), a.output);
        if (kind === 'snapshot') return proxySnapshot(client(a), a.proxy as string, a.output);
        if (kind !== 'all' && !(CONFIG_DUMP_KINDS as readonly string[]).includes(kind))
          throw new MeshError('INVALID_ARGUMENT', `proxy-config: unknown kind "${String(a.kind)}"; use ${CONFIG_DUMP_KINDS.join(', ')}, all or snapshot`);
        return proxyConfig(client(a), kind as ConfigDumpKind | 'all', a.proxy as string, a.output);
      }),
    )
    .command(
      'analyze',
      "check the mesh's resources against each other and the catalog (with -f, files not applied yet too); errors make the exit status 1",
      (y) =>
        y
          .option('filename', { alias: 'f', type: 'array', string: true, describe: 'files or directories to check as if applied (- for stdin)' })
          .option('root-namespace', { type: 'string', default: 'istio-system', describe: "the controller's root namespace (policies there apply mesh-wide)" }),
      async (a) => {
        const args = a as unknown as Args;
        const files = ((args.filename as string[] | undefined) ?? []).map((f) => (f === STDIN ? '-' : f));
        const result = await analyzeMesh(client(args), files.length > 0 ? readSources(files, () => readFileSync(0, 'utf8')) : [], String(args['root-namespace']), args.output);
        process.stdout.write(result.text);
        if (result.errors) process.exitCode = 1;
      },
    )
    .command(
      'dashboard',
      "the controller's web UI (the mesh graph, services, findings): opened in this machine's browser, else its address printed",
      (y) => y.option('browser', { type: 'boolean', default: true, describe: 'open a browser when this machine has one (--no-browser: print the address only)' }),
      run((a) => dashboard(client(a), a.browser as boolean)),
    )
    .command('x', 'experimental commands', (y) =>
      y
        .command(
          'describe <kind> <name>',
          'what applies to a service or a workload (reviews-v1, or an instance id): instances and their proxies, routes, policies, findings',
          (yy) => ns(yy.positional('kind', { choices: ['service', 'workload', 'svc'] as const }).positional('name', { type: 'string', demandOption: true })),
          run((a) => describe(client(a), a.kind === 'workload' ? 'workload' : 'service', a.name as string, a.namespace ?? 'default', a.output)),
        )
        .demandCommand(1, 'say which experimental command: describe'),
    )
    .command(
      'status',
      'controller health, catalog and counts',
      {},
      run((a) => status(client(a), a.output)),
    )
    .command('token', 'bootstrap tokens', (y) =>
      y
        .command(
          'create',
          'create a bootstrap token that lets its holder obtain a certificate for one service',
          (yy) =>
            ns(
              yy
                .option('service', { type: 'string', demandOption: 'name the service the token is for: --service NAME', describe: 'service name' })
                .option('service-account', { type: 'string', describe: "the identity's service account, as in Istio's principals cluster.local/ns/NS/sa/NAME (default: the service name)" })
                .option('ttl', { type: 'string', describe: 'lifetime, e.g. 10m, 1h (default 1h, at most 168h)' }),
            ),
          run((a) => createToken(client(a), a.service as string, a.namespace, a.ttl as string | undefined, a.output, a['service-account'] as string | undefined)),
        )
        .command(
          'agent',
          'create a host agent token: it mints bootstrap tokens and registers instances, and can change nothing else',
          (yy) => yy.option('host', { type: 'string', demandOption: 'name the host the agent runs on: --host NAME', describe: 'host name' }),
          run((a) => createAgentToken(client(a), a.host as string, a.output)),
        )
        .command(
          'revoke-agent',
          'revoke every host agent token of a host (a lost or retired VM); its agent is refused from then on, its sidecars keep their certificates until they expire',
          (yy) => yy.option('host', { type: 'string', demandOption: 'name the host: --host NAME', describe: 'host name' }),
          run((a) => revokeAgentTokens(client(a), a.host as string, a.output)),
        )
        .demandCommand(1, 'say what to do with tokens: create, agent, or revoke-agent'),
    )
    .command('secret', "gateways' TLS credentials (a Gateway's tls.credentialName names one of the gateway's namespace)", (y) =>
      y
        .command(
          'create <type> <name>',
          'store a certificate and its key (and a CA bundle for MUTUAL): meshctl secret create tls NAME --cert FILE --key FILE [--ca FILE] -n NAMESPACE',
          (yy) =>
            ns(
              yy
                .positional('type', { choices: ['tls'] as const, describe: 'the kind of secret: tls' })
                .positional('name', { type: 'string', describe: 'the credentialName Gateways use' })
                .option('cert', { type: 'string', demandOption: 'give the certificate (PEM, chain after it): --cert FILE' })
                .option('key', { type: 'string', demandOption: "give the certificate's private key (PEM): --key FILE" })
                .option('ca', { type: 'string', describe: 'CA bundle (PEM) that client certificates must chain to, for tls.mode MUTUAL' }),
            ),
          run((a) => createTlsSecret(client(a), a.name as string, { cert: a.cert as string, key: a.key as string, ca: a.ca as string | undefined }, a.namespace, a.output)),
        )
        .command(
          'list',
          'stored credentials: names, DNS names, expiry (never keys)',
          (yy) => ns(yy),
          run((a) => listSecrets(client(a), a.namespace, a.output)),
        )
        .command(
          'delete <name>',
          'delete a credential',
          (yy) => ns(yy.positional('name', { type: 'string' })),
          run((a) => deleteSecret(client(a), a.name as string, a.namespace)),
        )
        .demandCommand(1, 'say what to do with secrets: create, list or delete'),
    )
    .command('ca', 'the certificate authority', (y) =>
      y
        .command(
          'roots',
          'the trust bundle (-o yaml|json, or --pem)',
          (yy) => yy.option('pem', { type: 'boolean', describe: 'print the PEM bundle' }),
          run((a) => roots(client(a), a.pem ? 'pem' : a.output)),
        )
        .command(
          'rotate',
          'make a new signing root; old roots stay trusted until they expire',
          {},
          run((a) => rotate(client(a))),
        )
        .command(
          'sign',
          'sign a CSR with a bootstrap token and print the certificate (PEM)',
          (yy) =>
            yy
              .option('csr', { type: 'string', demandOption: 'give the CSR file: --csr FILE (or - for stdin)' })
              .option('bootstrap-token', { type: 'string', demandOption: 'give the token from `meshctl token create`: --bootstrap-token TOKEN' }),
          run((a) => sign(client(a), a.csr as string, a['bootstrap-token'] as string)),
        )
        .demandCommand(1, 'say what to do with the CA: roots, rotate or sign'),
    )
    .demandCommand(1, 'say what to do; see meshctl --help')
    .strict()
    .fail((msg, err) => {
      throw err ?? new MeshError('INVALID_ARGUMENT', `${msg}\nRun meshctl --help for usage.`);
    })
    .help()
    .parseAsync();
}

main().catch((err: unknown) => {
  if (err instanceof MeshError) {
    process.stderr.write(`meshctl: ${err.message}\n`);
    // Violations are already listed in the message of VALIDATION_FAILED; list them for others.
    if (err.code !== 'VALIDATION_FAILED') for (const v of err.violations) process.stderr.write(`  ${v.document ? `${v.document}: ` : ''}${v.path}: ${v.message}\n`);
  } else process.stderr.write(`meshctl: ${(err as Error).message ?? String(err)}\n`);
  process.exit(1);
});
