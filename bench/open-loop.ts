// Open-loop load: requests are sent at fixed intended times (rate per second) whatever the
// server does, and each latency is measured from its intended send time, so queueing shows up
// instead of being hidden by a client that waits (coordinated omission). Runs as its own process
// so that its CPU is not counted against what it measures. Prints one JSON line.
//   node dist/bench/open-loop.js URL RATE SECONDS [CONNECTIONS] [HOST]
import { Pool } from 'undici';
import { percentile } from './lib.js';

const [url, rateText, secondsText, connText = '32', host = 'echo'] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
const target = new URL(url);
const pool = new Pool(target.origin, { connections: Number(connText), pipelining: 1 });
const total = Math.round(rate * seconds);
const latencies: number[] = [];
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
          if (r.statusCode === 200) latencies.push(performance.now() - intended);
          else errors++;
          finish();
        },
        () => {
          errors++;
          finish();
        },
      );
    }
    if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - performance.now()));
  };
  tick();
});
const elapsed = (performance.now() - start) / 1000;
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
