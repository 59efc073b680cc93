// Where a sidecar's CPU goes per request, from `perf` samples rather than V8's profiler. V8's
// profiler is signal-driven: a sample taken while the thread is inside a write that woke another
// process lands on that write, so the writes looked like half of the sidecar's time. perf's
// cpu-clock counts only time on the CPU, kernel included. Each sample goes to the innermost frame
// of ours on its stack (file:///.../dist/...), or to the socket write or read it is under, or to
// Node's own JavaScript, or to what it is.
//
//   BENCH_HOLD=1 BENCH_CONFIGS=direct,mesh BENCH_PROXY_NODE_OPTIONS="--max-semi-space-size=2 \
//     --single-threaded-gc --heap-growing-percent=20 --perf-basic-prof-only-functions \
//     --interpreted-frames-native-stack" node dist/bench/compare.js      # prints ports and pids
//   wrk -t2 -c32 -d8s http://127.0.0.1:PORT/ & sleep 2
//   perf record -g -e cpu-clock -F 4000 -p PID -o side.data -- sleep 5
//   perf script -i side.data -F ip,sym > side.txt
//   node dist/bench/perf-attribution.js side.txt REQUESTS_IN_THOSE_5_S [rows] [hz]
import { readFileSync } from 'node:fs';

const WRITE = /Socket\._write|WriteString<|StreamBase::WriteBuffer|LibuvStreamWrap::DoTryWrite|TLSWrap::DoWrite|do_ssl3_write/;
const READ = /uv__read|TLSWrap::OnStreamRead$|ClearOut|SSL_read|ssl3_read|tcp_recvmsg/;
const GC = /Scaveng|Heap::|MarkCompact|GCTracer/;

/** One sample's category, its stack given innermost frame first. */
function categorise(stack: readonly string[]): string {
  let io: 'write' | 'read' | undefined;
  let nodeJs: string | undefined;
  for (const frame of stack) {
    if (io === undefined && WRITE.test(frame)) io = 'write';
    if (frame.includes('file:///') && frame.includes('/dist/')) {
      if (io === 'write') return 'socket writes';
      return `ours ${frame.replace(/.*\/dist\//, '')}`;
    }
    if (io === undefined && nodeJs === undefined && READ.test(frame)) io = 'read';
    if (nodeJs === undefined && /^JS:.*node:/.test(frame)) nodeJs = frame.replace(/^JS:[*~^]?/, '');
  }
  if (io === 'write') return 'socket writes';
  if (io === 'read') return 'socket reads';
  if (stack.some((f) => GC.test(f))) return 'garbage collection';
  if (nodeJs !== undefined) return `node ${nodeJs}`;
  return `other ${stack[0] ?? ''}`;
}

/** `perf script -F ip,sym` output: blank-line separated stacks, one "address symbol" per line. */
function stacks(text: string): string[][] {
  return text
    .split(/\n\s*\n/)
    .map((block) =>
      block
        .split('\n')
        .map((l) => l.trim().replace(/^[0-9a-f]+ /, ''))
        .filter(Boolean),
    )
    .filter((s) => s.length > 0);
}

function main(): void {
  const [file, requestsArg, rowsArg, hzArg] = process.argv.slice(2);
  const requests = Number(requestsArg);
  if (!file || !(requests > 0)) {
    console.error('usage: node dist/bench/perf-attribution.js PERF_SCRIPT_OUTPUT REQUESTS [rows=30] [hz=4000]');
    process.exit(2);
  }
  const usPerSample = 1e6 / Number(hzArg ?? 4000);
  const all = stacks(readFileSync(file, 'utf8'));
  const by = new Map<string, number>();
  for (const s of all) {
    const c = categorise(s);
    by.set(c, (by.get(c) ?? 0) + 1);
  }
  const perRequest = (n: number) => ((n * usPerSample) / requests).toFixed(2).padStart(6);
  console.log(`${perRequest(all.length)} us per request in all (${all.length} samples)`);
  const groups = new Map<string, number>();
  for (const [c, n] of by) {
    const group = c.split(' ')[0];
    groups.set(group, (groups.get(group) ?? 0) + n);
  }
  console.log([...groups].map(([g, n]) => `${g} ${perRequest(n).trim()}`).join(', '));
  for (const [c, n] of [...by].sort((a, b) => b[1] - a[1]).slice(0, Number(rowsArg ?? 30))) console.log(`${perRequest(n)} ${c}`);
}

main();
