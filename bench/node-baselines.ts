// What Node itself allows on this machine, as a yardstick for the sidecar: a bare HTTP proxy
// (http.Server + http.request, no logic, no TLS) and a bare TCP pipe, one and two hops, against
// direct, with the same wrk load as bench/data-path.ts. Ratios within one run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const BASE = 18_500 + Math.floor(Math.random() * 1000);

const APP = `import http from 'node:http'; const body = Buffer.alloc(1024, 'x');
http.createServer((q, r) => { r.writeHead(200, {'content-type': 'text/plain', 'content-length': body.length}); r.end(body); }).listen(Number(process.argv[2]), '127.0.0.1');`;
const HTTP_PROXY = `import http from 'node:http'; const [listen, target] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1000 });
http.createServer((req, res) => { const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers, agent }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); }); up.on('error', () => res.destroy()); req.pipe(up); }).listen(listen, '127.0.0.1');`;
const TCP_PIPE = `import net from 'node:net'; const [listen, target] = process.argv.slice(2).map(Number);
net.createServer((c) => { const u = net.connect(target, '127.0.0.1'); c.pipe(u); u.pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); }).listen(listen, '127.0.0.1');`;

function rps(port: number): number {
  const r = spawnSync('wrk', ['-t2', '-c32', `-d${SECONDS}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr || r.error}`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0);
}

async function main(): Promise<void> {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed: apt-get install wrk');
  const dir = mkdtempSync(join(tmpdir(), 'mesh-baseline-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const [app, httpProxy, tcpPipe] = [file('app.mjs', APP), file('http.mjs', HTTP_PROXY), file('tcp.mjs', TCP_PIPE)];
  const children: ChildProcess[] = [];
  const run = (script: string, ...ports: number[]) => children.push(spawn(process.execPath, [script, ...ports.map(String)], { stdio: 'ignore' }));
  const p = { app: BASE, http1: BASE + 1, http2: BASE + 2, tcp1: BASE + 3, tcp2: BASE + 4 };
  run(app, p.app);
  run(httpProxy, p.http1, p.app);
  run(httpProxy, p.http2, p.http1);
  run(tcpPipe, p.tcp1, p.app);
  run(tcpPipe, p.tcp2, p.tcp1);
  await new Promise((r) => setTimeout(r, 1000));
  try {
    const direct = rps(p.app);
    const rows: [string, number][] = [
      ['bare HTTP proxy, one hop', rps(p.http1)],
      ['bare HTTP proxy, two hops', rps(p.http2)],
      ['TCP pipe, one hop', rps(p.tcp1)],
      ['TCP pipe, two hops', rps(p.tcp2)],
    ];
    console.log(`Node baselines, plaintext, wrk 2 threads, 32 connections, 1 KiB, ${SECONDS}s each`);
    console.log(`  direct                      ${Math.round(direct)} req/s`);
    for (const [name, v] of rows) console.log(`  ${name.padEnd(28)}${Math.round(v)} req/s   ratio ${(v / direct).toFixed(2)}`);
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
