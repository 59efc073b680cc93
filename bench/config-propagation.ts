// Config propagation: 200 services, 500 simulated proxies long-polling the controller; a
// `meshctl apply` equivalent changes a route, and we time when each proxy holds the new
// snapshot. Also the controller's memory, and the bytes each change sends (compressed, as on
// the wire) per proxy. The watchers take incremental snapshots (delta=1) as sidecars do;
// BENCH_DELTA=0 makes them ask for whole ones. The controller runs in its own process on the
// embedded registry; the proxies are watch loops in this process.
//   BENCH_SERVICES, BENCH_PROXIES, BENCH_CHANGES, BENCH_DELTA
import { caller, median, percentile, startControllerProcess } from './lib.js';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 200);
const PROXIES = Number(process.env.BENCH_PROXIES ?? 500);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 5);
const DELTA = process.env.BENCH_DELTA !== '0';

interface Watcher {
  id: string;
  service: string;
  version: string;
  gotAt: Map<string, number>;
  /** Bytes received, as on the wire. */
  bytes: number;
}

async function main(): Promise<void> {
  const controller = await startControllerProcess();
  // Proxies ask for gzip, as the sidecar does; the watchers read the version from the ETag and
  // never decompress a snapshot (10,000 whole first snapshots would not fit in this process).
  const call = caller(controller, 64, true);
  const watch = caller(controller, PROXIES + 16, true, false);
  let stop = false;
  try {
    // The catalog: 200 services with 2-3 instances each, 500 instances in all; one proxy per instance.
    const watchers: Watcher[] = [];
    for (let i = 0; i < PROXIES; i++) {
      const service = `svc-${i % SERVICES}`;
      const id = `${service}-${Math.floor(i / SERVICES)}`;
      const res = await call(
        'POST',
        '/v1/catalog/instances',
        JSON.stringify({ id, service, address: `127.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 8080, labels: { version: `v${1 + (i % 2)}` }, sidecar: { inboundPort: 15006 } }),
      );
      if (res.status !== 201) throw new Error(`register failed: ${res.text}`);
      watchers.push({ id, service, version: '', gotAt: new Map(), bytes: 0 });
    }
    await call(
      'POST',
      '/v1/apply',
      JSON.stringify({
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'svc-0' },
        spec: {
          host: 'svc-0',
          subsets: [
            { name: 'v1', labels: { version: 'v1' } },
            { name: 'v2', labels: { version: 'v2' } },
          ],
        },
      }),
    );

    const loops = watchers.map(async (w) => {
      while (!stop) {
        try {
          const res = await watch('GET', `/v1/snapshots?proxy=${w.id}&service=${w.service}&version=${w.version}&wait=30s${DELTA && w.version ? '&delta=1' : ''}`);
          if (stop) break;
          w.bytes += res.bytes;
          if (res.status === 200) {
            const version = JSON.parse(res.etag!) as string;
            w.version = version;
            w.gotAt.set(version, performance.now());
          } else if (res.status !== 304) throw new Error(`watch failed: ${res.status} ${res.text}`);
        } catch (err) {
          if (!stop) throw err; // at the end the controller goes away under open watches
        }
      }
    });
    const waitAll = async (pred: () => boolean, what: string) => {
      const deadline = Date.now() + 60_000;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await waitAll(() => watchers.every((w) => w.version !== ''), 'every proxy to get its first snapshot');
    const idle = controller.rssMb();

    // Each change: time from the API call until every proxy holds a snapshot newer than before it.
    const timeChange = async (change: () => Promise<void>) => {
      const before = new Map(watchers.map((w) => [w.id, w.version]));
      const bytesBefore = watchers.reduce((n, w) => n + w.bytes, 0);
      const started = performance.now();
      await change();
      await waitAll(() => watchers.every((w) => w.version !== before.get(w.id)), 'every proxy to get the change');
      const delays = watchers.map((w) => w.gotAt.get(w.version)! - started).sort((a, b) => a - b);
      const perProxy = (watchers.reduce((n, w) => n + w.bytes, 0) - bytesBefore) / watchers.length;
      await new Promise((r) => setTimeout(r, 200));
      return { p50: percentile(delays, 50), p99: percentile(delays, 99), max: delays[delays.length - 1], perProxy };
    };
    const routes = [];
    for (let c = 0; c < CHANGES; c++) {
      const weight = 10 + c;
      routes.push(
        await timeChange(async () => {
          const res = await call(
            'POST',
            '/v1/apply',
            JSON.stringify({
              apiVersion: 'networking.istio.io/v1',
              kind: 'VirtualService',
              metadata: { name: 'svc-0' },
              spec: {
                hosts: ['svc-0'],
                http: [
                  {
                    route: [
                      { destination: { host: 'svc-0', subset: 'v1' }, weight: 100 - weight },
                      { destination: { host: 'svc-0', subset: 'v2' }, weight },
                    ],
                  },
                ],
              },
            }),
          );
          if (res.status !== 200) throw new Error(`apply failed: ${res.text}`);
        }),
      );
    }
    // Endpoint changes: a new instance registered (routable once the callers hold it), then gone.
    const endpoints = [];
    for (let c = 0; c < CHANGES; c++) {
      const id = `svc-1-extra-${c}`;
      endpoints.push(
        await timeChange(async () => {
          const res = await call(
            'POST',
            '/v1/catalog/instances',
            JSON.stringify({ id, service: 'svc-1', address: `127.0.9.${c + 1}`, port: 8080, labels: { version: 'v1' }, sidecar: { inboundPort: 15006 } }),
          );
          if (res.status !== 201) throw new Error(`register failed: ${res.text}`);
        }),
      );
      await call('DELETE', `/v1/catalog/instances/${id}`);
    }
    const loaded = controller.rssMb();
    stop = true;
    const f = (v: number[]) => `median ${median(v).toFixed(0)} ms (runs: ${v.map((x) => x.toFixed(0)).join(', ')})`;
    console.log(`config propagation: ${SERVICES} services, ${PROXIES} proxies watching (${DELTA ? 'incremental' : 'whole'} snapshots), ${CHANGES} route changes, ${CHANGES} new endpoints`);
    for (const [what, xs] of [
      ['apply -> every proxy holds the new route', routes],
      ['register -> every proxy holds the endpoint', endpoints],
    ] as const) {
      console.log(`  ${what}: p50 ${f(xs.map((x) => x.p50))}`);
      console.log(`  ${' '.repeat(what.length)}  p99 ${f(xs.map((x) => x.p99))}`);
      console.log(`  ${' '.repeat(what.length)}  max ${f(xs.map((x) => x.max))}`);
      const sent = median(xs.map((x) => x.perProxy));
      console.log(`  ${' '.repeat(what.length)}  sent per proxy per change: median ${sent.toFixed(0)} bytes, all proxies ${((sent * PROXIES) / 1e6).toFixed(2)} MB`);
    }

    console.log(`  controller RSS: ${idle.rss.toFixed(0)} MB with all proxies connected, ${loaded.rss.toFixed(0)} MB after the changes, peak ${loaded.peak.toFixed(0)} MB`);
    console.log('  targets: p99 <= 1000 ms, RSS < 300 MB');
    void loops;
  } finally {
    controller.stop();
    setTimeout(() => process.exit(0), 100).unref();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
