// Closed-loop gRPC load: CONCURRENCY unary calls outstanding at all times on one channel (one
// HTTP/2 connection, as a gRPC client uses), for SECONDS, with a real gRPC client
// (@grpc/grpc-js). Runs as its own process so that its CPU is not counted against what it
// measures. Prints one JSON line: calls per second, errors, p50 and p99 in ms.
//   node dist/bench/grpc-load.js PORT SECONDS [CONCURRENCY] [AUTHORITY]
import * as grpc from '@grpc/grpc-js';
import { percentile } from './lib.js';

const [portText, secondsText, concurrencyText = '32', authority = 'grpcecho'] = process.argv.slice(2);
const client = new grpc.Client(`127.0.0.1:${portText}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority });
const request = Buffer.alloc(64, 'q');
const identity = (b: Buffer) => b;

function call(): Promise<boolean> {
  return new Promise((resolve) => {
    client.makeUnaryRequest('/bench.Echo/Call', identity, identity, request, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err) => resolve(!err));
  });
}

// Warm the channel (connection, HTTP/2 settings) before counting.
for (let i = 0; i < 50; i++) await call();
const latencies: number[] = [];
let errors = 0;
const end = performance.now() + Number(secondsText) * 1000;
await Promise.all(
  Array.from({ length: Number(concurrencyText) }, async () => {
    while (performance.now() < end) {
      const t = performance.now();
      if (await call()) latencies.push(performance.now() - t);
      else errors++;
    }
  }),
);
latencies.sort((a, b) => a - b);
console.log(JSON.stringify({ rps: latencies.length / Number(secondsText), errors, p50: percentile(latencies, 50), p99: percentile(latencies, 99) }));
client.close();
