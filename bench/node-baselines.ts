// What Node itself allows on this machine, as a yardstick for the sidecar: a bare HTTP proxy
// (http.Server + http.request, no logic, no TLS), a bare TCP pipe, and a bare HTTP/1.1 byte
// relay (find the head's end, read Content-Length, pass bytes; TLS between its two hops, as the
// mesh has), one and two hops, against direct, with the same wrk load as bench/data-path.ts.
// Ratios within one run. The relay is the ceiling for any Node.js sidecar pair on this machine.
// And for gRPC: a bare pair of Node HTTP/2 proxies (h2c in, one HTTP/2 session over TLS between
// them, h2c to the app; headers, body and trailers passed on, nothing else), run with the sidecar's
// V8 flags, under the gRPC load of bench/compare.ts: the ceiling for a sidecar pair built on
// Node's http2 module; and beside it a pair of relays that work on HTTP/2 frames with no Node
// stream per call (bench/h2-frame-relay.ts): what a sidecar built that way could reach.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SIDECAR_NODE_FLAGS } from '../common/sidecar-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const root = new URL('../../', import.meta.url).pathname;
const BASE = 18_500 + Math.floor(Math.random() * 1000);

const APP = `import http from 'node:http'; const body = Buffer.alloc(1024, 'x');
http.createServer((q, r) => { r.writeHead(200, {'content-type': 'text/plain', 'content-length': body.length}); r.end(body); }).listen(Number(process.argv[2]), '127.0.0.1');`;
const HTTP_PROXY = `import http from 'node:http'; const [listen, target] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1000 });
http.createServer((req, res) => { const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers, agent }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); }); up.on('error', () => res.destroy()); req.pipe(up); }).listen(listen, '127.0.0.1');`;
const TCP_PIPE = `import net from 'node:net'; const [listen, target] = process.argv.slice(2).map(Number);
net.createServer((c) => { const u = net.connect(target, '127.0.0.1'); c.pipe(u); u.pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); }).listen(listen, '127.0.0.1');`;

// Content-Length framed answers only; no routing, no policy, no metrics.
const BYTE_RELAY = `import net from 'node:net'; import tls from 'node:tls'; import fs from 'node:fs';
const [mode, listen, target, dir] = process.argv.slice(2);
const idle = [];
const connectUp = (cb) => {
  const s = idle.pop(); if (s) return cb(s);
  const u = mode === 'client' ? tls.connect({ host: '127.0.0.1', port: Number(target), rejectUnauthorized: false }) : net.connect(Number(target), '127.0.0.1');
  u.setNoDelay(true); u.once(mode === 'client' ? 'secureConnect' : 'connect', () => cb(u));
};
const length = (head) => Number(/\\r\\ncontent-length:\\s*(\\d+)/i.exec(head)?.[1] ?? 0);
const serve = (down) => {
  let buf = Buffer.alloc(0); let busy = false;
  const next = () => {
    if (busy) return; const e = buf.indexOf('\\r\\n\\r\\n'); if (e < 0) return;
    const total = e + 4 + length(buf.toString('latin1', 0, e + 4)); if (buf.length < total) return;
    const req = buf.subarray(0, total); buf = buf.subarray(total); busy = true;
    connectUp((up) => {
      let res = Buffer.alloc(0); let need = -1;
      const onData = (c) => {
        res = res.length ? Buffer.concat([res, c]) : c;
        if (need < 0) { const h = res.indexOf('\\r\\n\\r\\n'); if (h < 0) return; need = h + 4 + length(res.toString('latin1', 0, h + 4)); }
        if (res.length >= need) { up.off('data', onData); down.write(res); idle.push(up); busy = false; next(); }
      };
      up.on('data', onData); up.write(req);
    });
  };
  down.setNoDelay?.(true);
  down.on('data', (c) => { buf = buf.length ? Buffer.concat([buf, c]) : c; next(); }); down.on('error', () => down.destroy());
};
if (mode === 'client') net.createServer(serve).listen(Number(listen), '127.0.0.1');
else tls.createServer({ key: fs.readFileSync(dir + '/key.pem'), cert: fs.readFileSync(dir + '/cert.pem') }, serve).listen(Number(listen), '127.0.0.1');`;

// Headers, body and trailers from one HTTP/2 stream to the other, both ways; no routing, no policy, no metrics.
const H2_RELAY = `import http2 from 'node:http2'; import fs from 'node:fs';
const [mode, listen, target, dir] = process.argv.slice(2);
let session;
const upstream = () => {
  if (session && !session.closed && !session.destroyed) return session;
  session = mode === 'client' ? http2.connect('https://127.0.0.1:' + target, { rejectUnauthorized: false }) : http2.connect('http://127.0.0.1:' + target);
  session.on('error', () => undefined);
  return session;
};
const relay = (down, headers) => {
  const up = upstream().request(headers);
  let trailers = {};
  down.on('error', () => up.destroy()); up.on('error', () => down.destroy());
  down.pipe(up);
  up.on('trailers', (t) => (trailers = t));
  up.on('response', (h) => { down.respond(h, { waitForTrailers: true }); down.on('wantTrailers', () => down.sendTrailers(trailers)); up.pipe(down); });
};
const server = mode === 'client' ? http2.createServer() : http2.createSecureServer({ key: fs.readFileSync(dir + '/key.pem'), cert: fs.readFileSync(dir + '/cert.pem') });
server.on('stream', relay).listen(Number(listen), '127.0.0.1');`;

const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};

/** A process's resident memory and the private (anonymous) part of it, MB, as bench/compare.ts reads them. */
const memoryMb = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return `${Math.round(kb('VmRSS') / 1024)} MB RSS (${Math.round(kb('RssAnon') / 1024)} MB private)`;
};

/** gRPC calls per second through `port` (bench/grpc-load.ts), and each of `pids`' CPU microseconds per call. */
function grpcCalls(port: number, pids: number[]): { rps: number; usPerCall: number[] } {
  const before = pids.map(cpuTicks);
  const r = spawnSync(process.execPath, [join(root, 'dist/bench/grpc-load.js'), String(port), String(SECONDS), '32'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`grpc-load failed: ${r.stderr}`);
  const rps = (JSON.parse(r.stdout) as { rps: number }).rps;
  const ticksPerSecond = 100; // Linux's USER_HZ, the unit of /proc/<pid>/stat's times
  return { rps, usPerCall: pids.map((pid, i) => Math.round(((cpuTicks(pid) - before[i]) / ticksPerSecond / (rps * SECONDS)) * 1e6)) };
}

function rps(port: number): number {
  return load(port, []).rps;
}

/** Requests per second through `port` under wrk, and each of `pids`' CPU microseconds per request. */
function load(port: number, pids: number[]): { rps: number; usPerRequest: number[] } {
  const before = pids.map(cpuTicks);
  const r = spawnSync('wrk', ['-t2', '-c32', `-d${SECONDS}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr || r.error}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0);
  const ticksPerSecond = 100; // Linux's USER_HZ, the unit of /proc/<pid>/stat's times
  return { rps, usPerRequest: pids.map((pid, i) => Math.round(((cpuTicks(pid) - before[i]) / ticksPerSecond / (rps * SECONDS)) * 1e6)) };
}

async function main(): Promise<void> {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed: apt-get install wrk');
  const dir = mkdtempSync(join(tmpdir(), 'mesh-baseline-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const [app, httpProxy, tcpPipe, byteRelay, h2Relay] = [file('app.mjs', APP), file('http.mjs', HTTP_PROXY), file('tcp.mjs', TCP_PIPE), file('relay.mjs', BYTE_RELAY), file('h2relay.mjs', H2_RELAY)];
  const tlsKey = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=relay'],
    { stdio: 'ignore' },
  );
  if (tlsKey.status !== 0) throw new Error('openssl is not installed: bash scripts/install-bench-deps.sh');
  const children: ChildProcess[] = [];
  /** Starts a script; `v8`: Node flags before it (the HTTP/2 pair gets the sidecar's). */
  const run = (script: string, args: (number | string)[], v8: readonly string[] = []) => {
    const child = spawn(process.execPath, [...v8, script, ...args.map(String)], { stdio: 'ignore' });
    children.push(child);
    return child.pid!;
  };
  const p = {
    app: BASE,
    http1: BASE + 1,
    http2: BASE + 2,
    tcp1: BASE + 3,
    tcp2: BASE + 4,
    relayServer: BASE + 5,
    relayClient: BASE + 6,
    grpcApp: BASE + 7,
    h2Server: BASE + 8,
    h2Client: BASE + 9,
    frameServer: BASE + 10,
    frameClient: BASE + 11,
  };
  run(app, [p.app]);
  run(httpProxy, [p.http1, p.app]);
  run(httpProxy, [p.http2, p.http1]);
  run(tcpPipe, [p.tcp1, p.app]);
  run(tcpPipe, [p.tcp2, p.tcp1]);
  const relayPids = [run(byteRelay, ['client', p.relayClient, p.relayServer, dir]), run(byteRelay, ['server', p.relayServer, p.app, dir])];
  run(join(root, 'dist/bench/grpc-app.js'), [p.grpcApp]);
  const h2Pids = [run(h2Relay, ['client', p.h2Client, p.h2Server, dir], SIDECAR_NODE_FLAGS), run(h2Relay, ['server', p.h2Server, p.grpcApp, dir], SIDECAR_NODE_FLAGS)];
  const frameRelay = join(root, 'dist/bench/h2-frame-relay.js');
  const framePids = [run(frameRelay, ['client', p.frameClient, p.frameServer, dir], SIDECAR_NODE_FLAGS), run(frameRelay, ['server', p.frameServer, p.grpcApp, dir], SIDECAR_NODE_FLAGS)];
  await new Promise((r) => setTimeout(r, 1000));
  try {
    const direct = rps(p.app);
    const rows: [string, number][] = [
      ['bare HTTP proxy, one hop', rps(p.http1)],
      ['bare HTTP proxy, two hops', rps(p.http2)],
      ['TCP pipe, one hop', rps(p.tcp1)],
      ['TCP pipe, two hops', rps(p.tcp2)],
    ];
    rps(p.relayClient); // warm the relays' code
    const relay = load(p.relayClient, relayPids);
    console.log(`Node baselines (plaintext unless said), wrk 2 threads, 32 connections, 1 KiB, ${SECONDS}s each`);
    console.log(`  direct                      ${Math.round(direct)} req/s`);
    for (const [name, v] of rows) console.log(`  ${name.padEnd(28)}${Math.round(v)} req/s   ratio ${(v / direct).toFixed(2)}`);
    // What a Node TLS relay pair costs per request with no HTTP work at all: the floor for the sidecar's CPU per request.
    console.log(
      `  ${'byte relay, two hops, TLS'.padEnd(28)}${Math.round(relay.rps)} req/s   ratio ${(relay.rps / direct).toFixed(2)}   CPU per request: client relay ${relay.usPerRequest[0]} us, server relay ${relay.usPerRequest[1]} us`,
    );
    console.log(`    after the load: client relay ${memoryMb(relayPids[0])}, server relay ${memoryMb(relayPids[1])}`);
    grpcCalls(p.h2Client, []); // warm the relays' code
    grpcCalls(p.frameClient, []);
    const grpcDirect = grpcCalls(p.grpcApp, []);
    const pair = grpcCalls(p.h2Client, h2Pids);
    const framePair = grpcCalls(p.frameClient, framePids);
    console.log(`gRPC unary (@grpc/grpc-js, 32 concurrent calls on one channel), ${SECONDS}s each`);
    console.log(`  direct                      ${Math.round(grpcDirect.rps)} calls/s`);
    console.log(
      `  bare HTTP/2 pair, TLS       ${Math.round(pair.rps)} calls/s   ratio ${(pair.rps / grpcDirect.rps).toFixed(2)}   CPU per call: client relay ${pair.usPerCall[0]} us, server relay ${pair.usPerCall[1]} us`,
    );
    console.log(
      `  HTTP/2 frame relay pair, TLS ${Math.round(framePair.rps)} calls/s   ratio ${(framePair.rps / grpcDirect.rps).toFixed(2)}   CPU per call: client relay ${framePair.usPerCall[0]} us, server relay ${framePair.usPerCall[1]} us`,
    );
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
