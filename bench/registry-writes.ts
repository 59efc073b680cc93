// Cost of registrations in the embedded registry as the catalog grows: N instances registered
// one after another (as agents join), then each re-registered with a new label (a rolling
// update). Prints wall time per change at the start and the end, bytes on disk, and peak RSS.
//   node dist/bench/registry-writes.js [N]
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedCatalog } from '../controller/catalog/embedded.js';

const n = Number(process.argv[2] ?? 5000);
const path = join(mkdtempSync(join(tmpdir(), 'mesh-bench-reg-')), 'registry.json');
const size = (p: string) => {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
};

const catalog = new EmbeddedCatalog(path);
await catalog.start();
let peak = 0;
const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
const reg = (i: number, version: string) => ({ id: `svc${i % 200}-${i}`, service: `svc${i % 200}`, address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 9080, labels: { version } });

async function phase(name: string, version: string): Promise<void> {
  const per: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await catalog.register(reg(i, version));
    per.push(performance.now() - t);
    if (i % 100 === 0) sample();
  }
  // Let the writes queued behind the registrations finish (close() waits for them at the end).
  const total = performance.now() - t0;
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  process.stdout.write(
    `${name}: ${n} changes in ${(total / 1000).toFixed(2)} s; first 500 ${(avg(per.slice(0, 500)) * 1000).toFixed(0)} µs/change, last 500 ${(avg(per.slice(-500)) * 1000).toFixed(0)} µs/change\n`,
  );
}

const start = performance.now();
await phase('join', 'v1');
await phase('rolling update', 'v2');
await catalog.close();
sample();
process.stdout.write(
  `total ${((performance.now() - start) / 1000).toFixed(2)} s incl. the last writes; on disk: file ${(size(path) / 1024).toFixed(0)} KiB, journal ${(size(`${path}.journal`) / 1024).toFixed(0)} KiB; peak RSS ${(peak / 1048576).toFixed(0)} MB\n`,
);
