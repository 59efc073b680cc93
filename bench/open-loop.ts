// Open-loop load: requests are sent at fixed intended times (rate per second) whatever the
// server does, and each latency is measured from its intended send time, so queueing shows up
// instead of being hidden by a client that waits (coordinated omission). Runs as its own process
// so that its CPU is not counted against what it measures. Prints one JSON line.
//   node dist/bench/open-loop.js URL RATE SECONDS [CONNECTIONS] [HOST]
// The first BENCH_OPEN_LOOP_WARMUP seconds (default 2) run at the same rate and are not counted,
// as wrk2's calibration period is not: this client's own first 100 ms (its code not yet compiled)
// answer 10-15 ms late whatever it calls, and near a pair's capacity that start alone leaves a
// queue that takes a second to drain (docs/benchmarks.md, "The latency cliff, found").
import { writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { percentile } from './lib.js';

const [url, rateText, secondsText, connText = '32', host = 'echo'] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
const warmup = Number(process.env.BENCH_OPEN_LOOP_WARMUP ?? 2);
const target = new URL(url);
const pool = new Pool(target.origin, { connections: Number(connText), pipelining: 1 });
const total = Math.round(rate * (warmup + seconds));
const latencies: number[] = [];
// BENCH_OPEN_LOOP_TRACE=FILE: one line per request, "intended send time (ms from start), latency (ms)",
// to see whether slow requests come together in time (a stall) or spread evenly (a slow path).
const trace: string[] | undefined = process.env.BENCH_OPEN_LOOP_TRACE ? [] : undefined;
let errors = 0;
let done = 0;

// Warm the connections so that handshakes are not counted as the first requests' latency.
await Promise.all(
  Array.from({ length: Number(connText) }, () =>
    pool.request({ path: target.pathname, method: 'GET', headers: { host } }).then(
      (r) => r.body.dump(),
      () => undefined,
    ),
  ),
);

const start = performance.now() + 20;
const measuredFrom = start + warmup * 1000;
let sent = 0;
await new Promise<void>((resolve) => {
  const finish = () => {
    done++;
    if (done === total) resolve();
  };
  const tick = () => {
    const now = performance.now();
    while (sent < total && start + (sent * 1000) / rate <= now) {
      const intended = start + (sent * 1000) / rate;
      sent++;
      pool.request({ path: target.pathname, method: 'GET', headers: { host } }).then(
        async (r) => {
          await r.body.dump();
          const latency = performance.now() - intended;
          trace?.push(`${(intended - start).toFixed(2)},${latency.toFixed(2)}`);
          if (intended >= measuredFrom) {
            if (r.statusCode === 200) latencies.push(latency);
            else errors++;
          }
          finish();
        },
        () => {
          if (intended >= measuredFrom) errors++;
          finish();
        },
      );
    }
    if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - performance.now()));
  };
  tick();
});
const elapsed = (performance.now() - measuredFrom) / 1000;
if (trace) writeFileSync(`${process.env.BENCH_OPEN_LOOP_TRACE}-${rate}.csv`, trace.join('\n'));
latencies.sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({
    rate,
    achieved: latencies.length / elapsed,
    errors,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    p999: percentile(latencies, 99.9),
  })}\n`,
);
await pool.close();
