// The data plane side by side, same client, server, payload and connections, in one run:
//   direct       client -> app
//   mesh         client -> client sidecar -> mTLS (STRICT) -> server sidecar -> app, L7 routing and metrics
//   mesh-1       client -> client sidecar -> app (one sidecar, the server outside the mesh)
//   mesh-node    the mesh pair with --no-http1-relay: Node's HTTP server and client (the design
//                before the byte relay), for a before/after ratio within the same run
//   mesh-tcp     the mesh pair carrying the service as raw TCP over mTLS
//   consul       Consul's built-in Connect proxy pair (L4, mTLS)
//   nginx        nginx as an L7 proxy pair with mTLS between the two
// gRPC: unary calls (@grpc/grpc-js client and server, 32 concurrent calls on one channel,
// bench/grpc-load.ts) direct, through the mesh pair (HTTP/2 both sides) and through Consul's pair.
// Closed loop: wrk, 32 keep-alive connections, 1 KiB responses: maximum requests per second and
// each proxy's CPU seconds per 1,000 requests and RSS. Open loop (bench/open-loop.ts): fixed
// rates, latency from the intended send time. Several runs; medians and spread; ratios within a
// run. Then the control plane (propagation of a route and of an endpoint to 500 proxies,
// certificates per second). Writes bench/results/compare.{txt,json,png} (latency against rate).
//   npm run bench:compare        (BENCH_RUNS, BENCH_SECONDS, BENCH_RATES to change the defaults;
//                                BENCH_HOLD=1 to set up, print ports and pids, and wait;
//                                BENCH_PROXY_ARGS="--no-h2-relay" to give every sidecar flags)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SIDECAR_ENV, SIDECAR_NODE_FLAGS } from '../common/sidecar-process.js';
import { caller, freePort, median, procStat, sidecarArgs, startControllerProcess } from './lib.js';

const root = new URL('../../', import.meta.url).pathname;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const RATES = (process.env.BENCH_RATES ?? '500,1000,2000,4000,6000').split(',').map(Number);
/** BENCH_CONFIGS=direct,mesh,consul: only these configurations (for an A/B of one change). */
const ONLY = process.env.BENCH_CONFIGS ? new Set(process.env.BENCH_CONFIGS.split(',')) : undefined;
const results = join(root, 'bench/results');
const children: ChildProcess[] = [];

interface Config {
  name: string;
  port: number;
  /** Proxy processes whose CPU and memory are counted (each with its descendants). */
  proxies: { role: string; pid: number }[];
  /** Where the gRPC service answers through this configuration, when it carries one, and the proxies that carry it. */
  grpc?: { port: number; proxies: { role: string; pid: number }[] };
}

interface GrpcMeasure {
  rps: number;
  errors: number;
  p50: number;
  p99: number;
  cpuPer1000: Record<string, number>;
}

interface Measure {
  rps: number;
  cpuPer1000: Record<string, number>;
  rssIdle: Record<string, number>;
  rssLoad: Record<string, number>;
  privateLoad: Record<string, number>;
  /**
   * `machineBusy`: the share of all cores' time the whole machine was busy while the rate ran
   * (0-1); `proxyBusy`: each proxy's CPU meanwhile, as a share of one core (a single-threaded
   * proxy cannot go past 1).
   */
  open: { rate: number; achieved: number; errors: number; p50: number; p90: number; p99: number; p999: number; machineBusy: number; proxyBusy: Record<string, number> }[];
  grpc?: GrpcMeasure;
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  c.stderr?.on('data', (d: Buffer) => process.env.BENCH_VERBOSE && process.stderr.write(d));
  children.push(c);
  return c;
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const answers = (port: number) => until(`127.0.0.1:${port}`, async () => (await fetch(`http://127.0.0.1:${port}/`, { headers: { host: 'echo' } })).status === 200);

/**
 * The process and its descendants: CPU seconds, RSS, and the private part of RSS (RssAnon: what
 * the process itself allocated, without the executable's and libraries' pages that every process
 * of the same program shares) in MB, from /proc.
 */
function tree(pid: number): { cpu: number; rssMb: number; privateMb: number } {
  const kids = new Map<number, number[]>();
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const ppid = Number(procStat(Number(d))[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone
    }
  }
  let cpu = 0;
  let rss = 0;
  let priv = 0;
  const walk = (p: number) => {
    try {
      const f = procStat(p);
      cpu += (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in 100 Hz ticks
      rss += (Number(f[21]) * 4096) / 1024 / 1024;
      priv += Number(/RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    } catch {
      return;
    }
    for (const k of kids.get(p) ?? []) walk(k);
  };
  walk(pid);
  return { cpu, rssMb: rss, privateMb: priv };
}

function wrk(port: number): number {
  const r = spawnSync('wrk', ['-t2', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '-H', 'Host: echo', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0);
}

/** Busy and total jiffies of all cores together, from /proc/stat (idle and iowait are not busy). */
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - f[4], total };
}

/** One open-loop rate, and how busy the machine was meanwhile: where latency jumps, is the machine full? */
async function openLoop(cfg: Config, rate: number): Promise<Measure['open'][number]> {
  const before = machineTicks();
  const cpuBefore = cfg.proxies.map((p) => tree(p.pid).cpu);
  const started = performance.now();
  const result = await openLoopClient(cfg.port, rate, cfg.name);
  const seconds = (performance.now() - started) / 1000;
  const proxyBusy = Object.fromEntries(cfg.proxies.map((p, i) => [p.role, (tree(p.pid).cpu - cpuBefore[i]) / seconds]));
  const after = machineTicks();
  return { ...result, machineBusy: (after.busy - before.busy) / Math.max(1, after.total - before.total), proxyBusy };
}

function openLoopClient(port: number, rate: number, name: string): Promise<Omit<Measure['open'][number], 'machineBusy' | 'proxyBusy'>> {
  return new Promise((resolve, reject) => {
    // BENCH_OPEN_LOOP_TRACE=PREFIX: each open-loop run writes PREFIX-<config>-<rate>.csv (bench/open-loop.ts).
    const trace = process.env.BENCH_OPEN_LOOP_TRACE;
    const c = spawn(process.execPath, [join(root, 'dist/bench/open-loop.js'), `http://127.0.0.1:${port}/`, String(rate), String(SECONDS), String(CONNECTIONS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: trace ? { ...process.env, BENCH_OPEN_LOOP_TRACE: `${trace}-${name}` } : process.env,
    });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`open-loop exited ${code}`))));
  });
}

async function measure(cfg: Config): Promise<Measure> {
  const rssIdle = Object.fromEntries(cfg.proxies.map((p) => [p.role, tree(p.pid).rssMb]));
  const before = cfg.proxies.map((p) => tree(p.pid).cpu);
  const rps = wrk(cfg.port);
  const after = cfg.proxies.map((p) => tree(p.pid));
  const requests = rps * SECONDS;
  const cpuPer1000 = Object.fromEntries(cfg.proxies.map((p, i) => [p.role, (after[i].cpu - before[i]) / (requests / 1000)]));
  const rssLoad = Object.fromEntries(cfg.proxies.map((p, i) => [p.role, after[i].rssMb]));
  const privateLoad = Object.fromEntries(cfg.proxies.map((p, i) => [p.role, after[i].privateMb]));
  const open = [];
  for (const rate of RATES) open.push(await openLoop(cfg, rate));
  const grpc = cfg.grpc ? await grpcLoad(cfg.grpc) : undefined;
  return { rps, cpuPer1000, rssIdle, rssLoad, privateLoad, open, ...(grpc ? { grpc } : {}) };
}

async function grpcLoad(cfg: NonNullable<Config['grpc']>): Promise<GrpcMeasure> {
  const before = cfg.proxies.map((p) => tree(p.pid).cpu);
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn(process.execPath, [join(root, 'dist/bench/grpc-load.js'), String(cfg.port), String(SECONDS), String(CONNECTIONS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    c.stdout.on('data', (d: Buffer) => (text += d.toString()));
    c.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`grpc-load exited ${code}`))));
  });
  const r = JSON.parse(out) as Omit<GrpcMeasure, 'cpuPer1000'>;
  const calls = r.rps * SECONDS;
  const cpuPer1000 = Object.fromEntries(cfg.proxies.map((p, i) => [p.role, (tree(p.pid).cpu - before[i]) / (calls / 1000)]));
  return { ...r, cpuPer1000 };
}

async function grpcApp(): Promise<number> {
  const port = await freePort();
  start(process.execPath, [join(root, 'dist/bench/grpc-app.js'), String(port)]);
  await until(
    `gRPC app on ${port}`,
    () =>
      new Promise((resolve) => {
        const s = connect(port, '127.0.0.1', () => resolve(s.end() && true)).on('error', () => resolve(false));
      }),
  );
  return port;
}

// ---- the configurations -------------------------------------------------------------------

async function app(): Promise<number> {
  const port = await freePort();
  const file = join(mkdtempSync(join(tmpdir(), 'bench-app-')), 'app.mjs');
  writeFileSync(
    file,
    `import http from 'node:http'; const body = Buffer.alloc(1024, 'x'); http.createServer((q, r) => { r.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }); r.end(body); }).listen(${port}, '127.0.0.1');`,
  );
  start(process.execPath, [file]);
  await answers(port);
  return port;
}

async function meshConfigs(appPort: number, grpcAppPort: number): Promise<Config[]> {
  const controller = await startControllerProcess();
  children.push(controller.child);
  const call = caller(controller);
  const caFile = join(mkdtempSync(join(tmpdir(), 'bench-ca-')), 'ca.pem');
  writeFileSync(caFile, controller.ca);
  const proxy = async (service: string, id: string, appPortFor: number, extra: string[]) => {
    const token = JSON.parse((await call('POST', '/v1/tokens', JSON.stringify({ service }))).text).token as string;
    const [inbound, admin] = [await freePort(), await freePort()];
    // BENCH_PROFILE_DIR: each sidecar writes a CPU profile there when it stops.
    const prof = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`, `--cpu-prof-name=${id}.cpuprofile`] : [];
    // Flags and environment as the host agent starts sidecars, unless BENCH_PROXY_NODE_OPTIONS says otherwise.
    const v8 = process.env.BENCH_PROXY_NODE_OPTIONS?.split(' ').filter(Boolean) ?? SIDECAR_NODE_FLAGS;
    const c = start(
      process.execPath,
      [
        ...v8,
        ...prof,
        ...sidecarArgs({ controller: controller.base, caFile, token, service, id, appPort: appPortFor, inboundPort: inbound, adminPort: admin }),
        ...(process.env.BENCH_PROXY_ARGS?.split(' ').filter(Boolean) ?? []),
        '--telemetry-interval',
        '10s',
        ...extra,
      ],
      SIDECAR_ENV,
    );
    await until(`${id} ready`, async () => (await fetch(`http://127.0.0.1:${admin}/ready`)).ok);
    return { pid: c.pid!, inbound };
  };
  const server = await proxy('echo', 'echo-1', appPort, []);
  const serverTcp = await proxy('echotcp', 'echotcp-1', appPort, []);
  // The same pair on Node's HTTP server and client only (before the byte relay), for the ratio.
  const serverNode = await proxy('echonode', 'echonode-1', appPort, ['--no-http1-relay']);
  const serverGrpc = await proxy('grpcecho', 'grpcecho-1', grpcAppPort, []);
  const register = (body: object) => call('POST', '/v1/catalog/instances', JSON.stringify(body));
  await register({ id: 'echo-1', service: 'echo', address: '127.0.0.1', port: appPort, protocol: 'http', labels: { version: 'v1' }, sidecar: { inboundPort: server.inbound } });
  await register({ id: 'echotcp-1', service: 'echotcp', address: '127.0.0.1', port: appPort, protocol: 'tcp', sidecar: { inboundPort: serverTcp.inbound } });
  await register({ id: 'plain-1', service: 'plain', address: '127.0.0.1', port: appPort, protocol: 'http' });
  await register({ id: 'grpcecho-1', service: 'grpcecho', address: '127.0.0.1', port: grpcAppPort, protocol: 'grpc', sidecar: { inboundPort: serverGrpc.inbound } });
  await register({ id: 'echonode-1', service: 'echonode', address: '127.0.0.1', port: appPort, protocol: 'http', labels: { version: 'v1' }, sidecar: { inboundPort: serverNode.inbound } });
  await call(
    'POST',
    '/v1/apply',
    JSON.stringify({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } }),
  );
  const [pHttp, pPlain, pTcp, pGrpc] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const client = await proxy('client', 'client-1', await freePort(), [
    '--upstream',
    `echo=${pHttp}`,
    '--upstream',
    `plain=${pPlain}`,
    '--upstream',
    `echotcp=${pTcp}`,
    '--upstream',
    `grpcecho=${pGrpc}`,
  ]);
  const pNode = await freePort();
  const clientNode = await proxy('clientnode', 'clientnode-1', await freePort(), ['--no-http1-relay', '--upstream', `echonode=${pNode}`]);
  for (const p of [pHttp, pPlain, pTcp, pNode]) await answers(p);
  return [
    {
      name: 'mesh',
      port: pHttp,
      proxies: [
        { role: 'client sidecar', pid: client.pid },
        { role: 'server sidecar', pid: server.pid },
      ],
      grpc: {
        port: pGrpc,
        proxies: [
          { role: 'client sidecar', pid: client.pid },
          { role: 'server sidecar', pid: serverGrpc.pid },
        ],
      },
    },
    { name: 'mesh-1', port: pPlain, proxies: [{ role: 'client sidecar', pid: client.pid }] },
    {
      name: 'mesh-node',
      port: pNode,
      proxies: [
        { role: 'client sidecar', pid: clientNode.pid },
        { role: 'server sidecar', pid: serverNode.pid },
      ],
    },
    {
      name: 'mesh-tcp',
      port: pTcp,
      proxies: [
        { role: 'client sidecar', pid: client.pid },
        { role: 'server sidecar', pid: serverTcp.pid },
      ],
    },
  ];
}

async function consulConfig(appPort: number, grpcAppPort: number): Promise<Config | undefined> {
  if (spawnSync('consul', ['version']).status !== 0) return undefined;
  const ports = { http: await freePort(), dns: await freePort(), serfLan: await freePort(), serfWan: await freePort(), server: await freePort(), grpc: await freePort() };
  start('consul', [
    'agent',
    '-dev',
    '-bind=127.0.0.1',
    '-client=127.0.0.1',
    '-log-level=error',
    `-data-dir=${mkdtempSync(join(tmpdir(), 'bench-consul-'))}`,
    `-http-port=${ports.http}`,
    `-dns-port=${ports.dns}`,
    `-serf-lan-port=${ports.serfLan}`,
    `-serf-wan-port=${ports.serfWan}`,
    `-server-port=${ports.server}`,
    `-grpc-port=${ports.grpc}`,
  ]);
  const http = `127.0.0.1:${ports.http}`;
  await until('Consul', async () => (await (await fetch(`http://${http}/v1/status/leader`)).text()).includes(':'));
  const [serverPort, clientPort, grpcServerPort, grpcClientPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const server = start('consul', ['connect', 'proxy', `-http-addr=${http}`, '-service=echo', `-service-addr=127.0.0.1:${appPort}`, `-listen=127.0.0.1:${serverPort}`, '-register', '-log-level=error']);
  const client = start('consul', ['connect', 'proxy', `-http-addr=${http}`, '-service=client', `-upstream=echo:${clientPort}`, '-log-level=error']);
  // gRPC through a second pair (one service per server proxy), its CPU counted with the first.
  const grpcServer = start('consul', [
    'connect',
    'proxy',
    `-http-addr=${http}`,
    '-service=grpcecho',
    `-service-addr=127.0.0.1:${grpcAppPort}`,
    `-listen=127.0.0.1:${grpcServerPort}`,
    '-register',
    '-log-level=error',
  ]);
  const grpcClient = start('consul', ['connect', 'proxy', `-http-addr=${http}`, '-service=grpcclient', `-upstream=grpcecho:${grpcClientPort}`, '-log-level=error']);
  await answers(clientPort);
  return {
    name: 'consul',
    port: clientPort,
    proxies: [
      { role: 'client proxy', pid: client.pid! },
      { role: 'server proxy', pid: server.pid! },
    ],
    grpc: {
      port: grpcClientPort,
      proxies: [
        { role: 'client proxy', pid: grpcClient.pid! },
        { role: 'server proxy', pid: grpcServer.pid! },
      ],
    },
  };
}

async function nginxConfig(appPort: number): Promise<Config | undefined> {
  if (spawnSync('nginx', ['-v']).status !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  const ssl = (...args: string[]) => spawnSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=bench-ca');
  for (const n of ['server', 'client']) {
    ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=${n === 'server' ? 'echo' : 'client'}`);
    writeFileSync(join(dir, `${n}.ext`), `subjectAltName=DNS:${n === 'server' ? 'echo' : 'client'}\n`);
    ssl('x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${n}.pem`, '-days', '1', '-extfile', `${n}.ext`);
  }
  const [serverPort, clientPort] = [await freePort(), await freePort()];
  const common = (name: string) => `worker_processes 1; daemon off; pid ${dir}/${name}.pid; error_log ${dir}/${name}.err warn; events { worker_connections 4096; }`;
  writeFileSync(
    join(dir, 'server.conf'),
    `${common('server')} http { access_log off; upstream app { server 127.0.0.1:${appPort}; keepalive 64; } server { listen 127.0.0.1:${serverPort} ssl; ssl_certificate ${dir}/server.pem; ssl_certificate_key ${dir}/server.key; ssl_client_certificate ${dir}/ca.pem; ssl_verify_client on; keepalive_requests 100000; location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`,
  );
  writeFileSync(
    join(dir, 'client.conf'),
    `${common('client')} http { access_log off; upstream s { server 127.0.0.1:${serverPort}; keepalive 64; } server { listen 127.0.0.1:${clientPort}; keepalive_requests 100000; location / { proxy_pass https://s; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_ssl_certificate ${dir}/client.pem; proxy_ssl_certificate_key ${dir}/client.key; proxy_ssl_trusted_certificate ${dir}/ca.pem; proxy_ssl_verify on; proxy_ssl_name echo; proxy_ssl_session_reuse on; } } }`,
  );
  const server = start('nginx', ['-p', dir, '-c', join(dir, 'server.conf')]);
  const client = start('nginx', ['-p', dir, '-c', join(dir, 'client.conf')]);
  await answers(clientPort);
  return {
    name: 'nginx',
    port: clientPort,
    proxies: [
      { role: 'client proxy', pid: client.pid! },
      { role: 'server proxy', pid: server.pid! },
    ],
  };
}

// ---- report -------------------------------------------------------------------------------

const spread = (xs: number[], digits = 0) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;

function report(configs: Config[], runs: Record<string, Measure>[]): string {
  const lines: string[] = [];
  lines.push(`closed loop: wrk, ${CONNECTIONS} keep-alive connections, 1 KiB responses, ${SECONDS} s; ${runs.length} runs, median (min-max)`);
  lines.push(['config', 'req/s', 'x consul', 'CPU s/1000 req per proxy', 'RSS MB idle -> load', 'private MB at load'].join(' | '));
  for (const c of configs) {
    const rps = runs.map((r) => r[c.name].rps);
    const vsConsul = runs[0].consul
      ? spread(
          runs.map((r) => r[c.name].rps / r.consul.rps),
          2,
        )
      : '-';
    const cpu =
      c.proxies
        .map(
          (p) =>
            `${p.role} ${spread(
              runs.map((r) => r[c.name].cpuPer1000[p.role]),
              3,
            )}`,
        )
        .join('; ') || '-';
    const rss = c.proxies.map((p) => `${p.role} ${spread(runs.map((r) => r[c.name].rssIdle[p.role]))} -> ${spread(runs.map((r) => r[c.name].rssLoad[p.role]))}`).join('; ') || '-';
    const priv = c.proxies.map((p) => `${p.role} ${spread(runs.map((r) => r[c.name].privateLoad[p.role]))}`).join('; ') || '-';
    lines.push([c.name, spread(rps), vsConsul, cpu, rss, priv].join(' | '));
  }
  lines.push('');
  lines.push(`open loop: latency from the intended send time after a warm-up at the same rate, ms, median of runs; added = config minus direct in the same run`);
  lines.push(['config', ...RATES.map((r) => `${r}/s p50 / p90 / p99 / p99.9`), 'added p50 / p99 at 1000/s'].join(' | '));
  for (const c of configs) {
    const cells = RATES.map((_, i) => {
      const pick = (k: 'p50' | 'p90' | 'p99' | 'p999') => median(runs.map((r) => r[c.name].open[i][k])).toFixed(2);
      const errs = runs.reduce((n, r) => n + r[c.name].open[i].errors, 0);
      const short = median(runs.map((r) => r[c.name].open[i].achieved)) < RATES[i] * 0.95 ? ' (not sustained)' : '';
      return `${pick('p50')} / ${pick('p90')} / ${pick('p99')} / ${pick('p999')}${errs ? ` (${errs} errors)` : ''}${short}`;
    });
    const k = RATES.indexOf(1000);
    const added =
      k < 0 ? '-' : `${median(runs.map((r) => r[c.name].open[k].p50 - r.direct.open[k].p50)).toFixed(2)} / ${median(runs.map((r) => r[c.name].open[k].p99 - r.direct.open[k].p99)).toFixed(2)}`;
    lines.push([c.name, ...cells, added].join(' | '));
  }
  lines.push('');
  lines.push('open loop: the whole machine busy meanwhile, % of all cores, median of runs (the open-loop client, the proxies and the app run on the same cores)');
  lines.push(['config', ...RATES.map((r) => `${r}/s`)].join(' | '));
  for (const c of configs) lines.push([c.name, ...RATES.map((_, i) => `${(median(runs.map((r) => r[c.name].open[i].machineBusy)) * 100).toFixed(0)} %`)].join(' | '));
  lines.push('');
  lines.push('open loop: each proxy busy meanwhile, % of one core, median of runs');
  lines.push(['config', ...RATES.map((r) => `${r}/s`)].join(' | '));
  for (const c of configs) {
    if (c.proxies.length === 0) continue;
    const cells = RATES.map((_, i) => c.proxies.map((p) => `${p.role} ${(median(runs.map((r) => r[c.name].open[i].proxyBusy[p.role])) * 100).toFixed(0)} %`).join(', '));
    lines.push([c.name, ...cells].join(' | '));
  }
  lines.push('');
  lines.push(`gRPC unary: @grpc/grpc-js client and server, ${CONNECTIONS} concurrent calls on one channel, 1 KiB answers, ${SECONDS} s; median (min-max)`);
  lines.push(['config', 'calls/s', 'x consul', 'p50 / p99 ms', 'CPU s/1000 calls per proxy', 'errors'].join(' | '));
  for (const c of configs) {
    if (!c.grpc) continue;
    const g = runs.map((r) => r[c.name].grpc!);
    const vsConsul = runs[0].consul?.grpc
      ? spread(
          runs.map((r) => r[c.name].grpc!.rps / r.consul.grpc!.rps),
          2,
        )
      : '-';
    const cpu =
      c.grpc.proxies
        .map(
          (p) =>
            `${p.role} ${spread(
              g.map((x) => x.cpuPer1000[p.role]),
              3,
            )}`,
        )
        .join('; ') || '-';
    lines.push(
      [c.name, spread(g.map((x) => x.rps)), vsConsul, `${median(g.map((x) => x.p50)).toFixed(2)} / ${median(g.map((x) => x.p99)).toFixed(2)}`, cpu, String(g.reduce((n, x) => n + x.errors, 0))].join(
        ' | ',
      ),
    );
  }
  return lines.join('\n');
}

function plot(configs: Config[], runs: Record<string, Measure>[]): string | undefined {
  if (spawnSync('gnuplot', ['--version']).status !== 0) return undefined;
  const data = join(results, 'compare.dat');
  const blocks = configs.map((c) => RATES.map((rate, i) => `${rate} ${median(runs.map((r) => r[c.name].open[i].p50))} ${median(runs.map((r) => r[c.name].open[i].p99))}`).join('\n'));
  writeFileSync(data, blocks.join('\n\n\n') + '\n');
  const png = join(results, 'compare.png');
  const series = (col: number) => configs.map((c, i) => `'${data}' index ${i} using 1:${col} with linespoints lw 2 title '${c.name}'`).join(', ');
  const script = [
    'set terminal png size 1200,500',
    `set output '${png}'`,
    `set multiplot layout 1,2 title "Latency against request rate (open loop, ${CONNECTIONS} connections, 1 KiB)"`,
    'set logscale y',
    'set grid',
    'set xlabel "requests per second"',
    'set ylabel "ms"',
    'set key top left',
    'set title "p50"',
    `plot ${series(2)}`,
    'set title "p99"',
    `plot ${series(3)}`,
    'unset multiplot',
  ].join('\n');
  const r = spawnSync('gnuplot', [], { input: script, encoding: 'utf8' });
  return r.status === 0 ? png : undefined;
}

async function main(): Promise<void> {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed: bash scripts/install-bench-deps.sh');
  mkdirSync(results, { recursive: true });
  const appPort = await app();
  const grpcAppPort = await grpcApp();
  const wanted = (name: string) => !ONLY || ONLY.has(name);
  const configs: Config[] = [{ name: 'direct', port: appPort, proxies: [], grpc: { port: grpcAppPort, proxies: [] } }, ...(await meshConfigs(appPort, grpcAppPort))].filter((c) => wanted(c.name));
  if (wanted('consul')) {
    const consul = await consulConfig(appPort, grpcAppPort);
    if (consul) configs.push(consul);
    else console.log('consul is not installed: its proxy pair is left out');
  }
  if (wanted('nginx')) {
    const nginx = await nginxConfig(appPort);
    if (nginx) configs.push(nginx);
    else console.log('nginx is not installed: its proxy pair is left out');
  }

  // BENCH_HOLD=1: set everything up, print where each configuration answers and its proxies'
  // pids, and wait for SIGINT (for perf, strace or a manual wrk against one configuration).
  if (process.env.BENCH_HOLD) {
    console.log(JSON.stringify(configs.map((c) => ({ name: c.name, port: c.port, proxies: c.proxies, ...(c.grpc ? { grpc: c.grpc } : {}) }))));
    await new Promise((resolve) => process.once('SIGINT', resolve));
    return;
  }
  const runs: Record<string, Measure>[] = [];
  for (let run = 0; run < RUNS; run++) {
    const r: Record<string, Measure> = {};
    for (const c of configs) {
      r[c.name] = await measure(c);
      process.stderr.write(`run ${run + 1}/${RUNS} ${c.name}: ${Math.round(r[c.name].rps)} req/s\n`);
    }
    runs.push(r);
  }
  let text = report(configs, runs);
  // The control plane, in the same run: config and endpoint propagation to 500 watching
  // proxies, and certificate issuance (bench/config-propagation.ts, bench/ca-issuance.ts).
  for (const c of children) c.kill('SIGTERM');
  if (process.env.BENCH_CONTROL !== '0') {
    for (const b of ['config-propagation', 'ca-issuance']) {
      const r = spawnSync(process.execPath, [join(root, `dist/bench/${b}.js`)], { encoding: 'utf8' });
      text += `\n\n${r.stdout.trim()}`;
    }
  }
  console.log(text);
  writeFileSync(join(results, 'compare.json'), JSON.stringify({ date: new Date().toISOString(), seconds: SECONDS, connections: CONNECTIONS, rates: RATES, runs }, null, 2));
  writeFileSync(join(results, 'compare.txt'), `${text}\n`);
  const png = plot(configs, runs);
  console.log(png ? `\nplot: ${png}` : '\n(gnuplot is not installed: no plot)');
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGTERM');
    setTimeout(() => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      process.exit();
    }, 3000);
  });
