// Leaf certificate issuance: how many CSRs the CA turns into leaves per second on one core.
// Measures the CA path itself (parse + verify the CSR, build the leaf with node-forge's ASN.1,
// sign with ECDSA P-256 natively) in this process, then the same over the REST API against a
// controller in its own process (one controller core; TLS keep-alive, 16 requests in flight).
import { createRoot, SigningRoot } from '../core/pki/ca.js';
import { generateKeyPair, signerFor } from '../core/pki/keys.js';
import { buildCsr } from '../core/pki/x509.js';
import { caller, median, startControllerProcess } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

function csrs(n: number): string[] {
  return Array.from({ length: n }, () => {
    const k = generateKeyPair();
    return buildCsr(k.spkiDer, { uris: ['spiffe://cluster.local/ns/default/sa/reviews'] }, signerFor(k.privateKey));
  });
}

async function main(): Promise<void> {
  const pool = csrs(200);
  const root = new SigningRoot(createRoot('cluster.local', new Date(), 365 * 86_400_000));
  const id = { trustDomain: 'cluster.local', namespace: 'default', service: 'reviews' };
  const inProcess: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let n = 0;
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end) root.issueLeaf(pool[n++ % pool.length], id, 86_400_000, new Date());
    inProcess.push(n / SECONDS);
  }

  const controller = await startControllerProcess();
  const call = caller(controller, 16);
  const overApi: number[] = [];
  try {
    const bodies = pool.map((csr) => JSON.stringify({ csr, service: 'reviews' }));
    for (let r = 0; r < RUNS; r++) {
      let n = 0;
      const end = Date.now() + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (Date.now() < end) {
            const res = await call('POST', '/v1/ca/sign', bodies[n % bodies.length]);
            if (res.status !== 200) throw new Error(`sign failed: ${res.status} ${res.text}`);
            n++;
          }
        }),
      );
      overApi.push(n / SECONDS);
    }
  } finally {
    controller.stop();
  }
  const fmt = (v: number[]) => `median ${Math.round(median(v))}/s (runs: ${v.map(Math.round).join(', ')})`;
  console.log('leaf issuance, ECDSA P-256, one core');
  console.log(`  CA path in process:          ${fmt(inProcess)}`);
  console.log(`  REST API, controller process: ${fmt(overApi)}`);
  console.log(`  target: >= 1000/s`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
