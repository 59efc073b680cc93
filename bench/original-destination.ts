// What reading a captured connection's original destination costs (native/original-dst.c:
// getsockname + getsockopt SO_ORIGINAL_DST, once per connection, not per request), on a loopback
// socket. Run: node dist/bench/original-destination.js
import { connect, createServer, type Socket } from 'node:net';
import { captureOriginalDestination, originalDestinations } from '../proxy/original-destination.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 200_000);

const unavailable = originalDestinations();
if (unavailable) {
  console.error(`original-destination: ${unavailable}`);
  process.exit(1);
}
const server = createServer((socket: Socket) => {
  captureOriginalDestination(socket); // warm up
  const started = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) captureOriginalDestination(socket);
  const ns = Number(process.hrtime.bigint() - started) / CALLS;
  console.log(JSON.stringify({ bench: 'original-destination', calls: CALLS, nsPerCall: Math.round(ns) }));
  socket.destroy();
  server.close();
});
server.listen(0, '127.0.0.1', () => connect((server.address() as { port: number }).port, '127.0.0.1').on('error', () => undefined));
