// What one small write to one of many sockets costs the writer on this machine, over TLS and over
// plain TCP, on loopback to a reader in another process: the floor under a push (a controller
// writes one frame to each proxy's stream; each proxy writes one acknowledgement back).
//   node dist/bench/socket-writes.js [sockets=2000] [rounds=7] [bytes=1500]
import { fork } from 'node:child_process';
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createRoot } from '../core/pki/ca.js';
import { median } from './lib.js';

interface Ports {
  tls: number;
  tcp: number;
}

async function reader(): Promise<void> {
  const { certPem, keyPem } = createRoot('bench.local', new Date(), 3_600_000);
  const drain = (s: net.Socket) => s.on('data', () => undefined).on('error', () => undefined);
  const secure = tls.createServer({ cert: certPem, key: keyPem }, drain).listen(0, '127.0.0.1');
  const plain = net.createServer(drain).listen(0, '127.0.0.1');
  await Promise.all([once(secure, 'listening'), once(plain, 'listening')]);
  process.send!({ tls: (secure.address() as net.AddressInfo).port, tcp: (plain.address() as net.AddressInfo).port } satisfies Ports);
}

async function writer(): Promise<void> {
  const sockets = Number(process.argv[2] ?? 2000);
  const rounds = Number(process.argv[3] ?? 7);
  const frame = Buffer.alloc(Number(process.argv[4] ?? 1500), 'x');
  const child = fork(process.argv[1], ['reader']);
  try {
    const [ports] = (await once(child, 'message')) as [Ports];
    for (const kind of ['tcp', 'tls', 'tcp', 'tls'] as const) {
      const open = () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s: net.Socket =
            kind === 'tls' ? tls.connect({ port: ports.tls, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(s)) : net.connect(ports.tcp, '127.0.0.1', () => resolve(s));
          s.setNoDelay(true);
          s.once('error', reject);
        });
      const all: net.Socket[] = [];
      for (let i = 0; i < sockets; i += 100) all.push(...(await Promise.all(Array.from({ length: Math.min(100, sockets - i) }, open))));
      const perWrite: number[] = [];
      for (let r = 0; r < rounds; r++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const before = process.cpuUsage();
        for (const s of all) s.write(frame);
        // The writes leave in this turn (sockets not full); the CPU until then is the writes'.
        await new Promise((resolve) => setImmediate(resolve));
        const used = process.cpuUsage(before);
        perWrite.push((used.user + used.system) / sockets);
      }
      console.log(
        `${kind.padEnd(3)}: ${sockets} sockets, ${frame.length} bytes each: the writer's CPU per write median ${median(perWrite).toFixed(1)} µs (rounds: ${perWrite.map((x) => x.toFixed(0)).join(', ')})`,
      );
      for (const s of all) s.destroy();
    }
  } finally {
    child.kill();
  }
}

(process.argv[2] === 'reader' ? reader() : writer()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
