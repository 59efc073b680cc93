// The CPU a new mTLS connection costs: the options a sidecar dials another sidecar with
// (proxy/tls-origination.ts), and those it dials a server outside the mesh with when a
// DestinationRule names certificate files (MUTUAL), to a TLS server asking for client
// certificates, both in this process, one connection at a time. Short-lived connections pay it
// for each one: TCP services (one upstream connection per client connection),
// maxRequestsPerConnection, pool churn.
import { once } from 'node:events';
import { connect, createServer } from 'node:tls';
import type { UpstreamTransport } from '../core/routing/transport.js';
import { tlsOptionsFor } from '../proxy/tls-origination.js';
import { opensslCa } from '../test/helpers/openssl-ca.js';
import { median } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 300);
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/reviews';

async function main(): Promise<void> {
  const ca = opensslCa('/CN=bench root');
  ca.issue('server', { uri: [SERVER_ID] });
  ca.issue('client', { uri: ['spiffe://cluster.local/ns/default/sa/productpage'], client: true });
  const server = createServer({ cert: ca.read('server.pem'), key: ca.read('server.key'), ca: ca.read('ca.pem'), requestCert: true }, (s) => s.end('x'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const identity = { certPem: ca.read('client.pem'), keyPem: ca.read('client.key'), trustBundle: [ca.read('ca.pem')], identity: 'productpage', notAfter: new Date(Date.now() + 86_400_000) };
  const mesh = { kind: 'mesh-mtls' as const, port, expectedIds: [SERVER_ID] };
  // The server's certificate names a SPIFFE ID, no DNS name: the files case checks no name.
  const files = {
    kind: 'tls' as const,
    port,
    mutual: true,
    verifyNames: [],
    caCertificates: ca.path('ca.pem'),
    clientCertificate: ca.path('client.pem'),
    privateKey: ca.path('client.key'),
    insecureSkipVerify: true,
  };
  const round = async (transport: UpstreamTransport, n: number) => {
    const cpu = process.cpuUsage();
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const s = connect({ host: '127.0.0.1', port, ...tlsOptionsFor(transport, identity, ['http/1.1']) });
      await once(s, 'data');
      s.destroy();
    }
    const used = process.cpuUsage(cpu);
    return { cpuMs: (used.user + used.system) / 1000 / n, wallMs: (performance.now() - start) / n };
  };
  try {
    console.log(`mTLS connection setup, ECDSA P-256, client and server in one process, ${CONNECTIONS} connections per run`);
    for (const [name, transport] of [
      ['mesh identity (sidecar to sidecar)', mesh],
      ['DestinationRule MUTUAL from files', files],
    ] as const) {
      await round(transport, 50); // warm up
      const rounds = [];
      for (let r = 0; r < RUNS; r++) rounds.push(await round(transport, CONNECTIONS));
      console.log(
        `  ${name}: CPU per connection (both ends) median ${median(rounds.map((r) => r.cpuMs)).toFixed(2)} ms (runs: ${rounds.map((r) => r.cpuMs.toFixed(2)).join(', ')}), wall ${median(rounds.map((r) => r.wallMs)).toFixed(2)} ms`,
      );
    }
  } finally {
    server.close();
    ca.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
