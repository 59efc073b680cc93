import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A port that was free a moment ago on 127.0.0.1, picked below the kernel's ephemeral range: a
 * port from that range (what listen(0) gives) can be taken by any process's outgoing connection
 * (Consul's, a controller's thousand watches) before the test binds it, and tests running beside
 * each other then fail with EADDRINUSE. Below the range only other tests' picks can collide,
 * and they are random.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  if (low > LOWEST + SPAN) {
    for (let i = 0; i < 50; i++) {
      const port = LOWEST + Math.floor(Math.random() * Math.min(SPAN, low - LOWEST));
      if (handedOut.has(port) || !(await bindable(port))) continue;
      handedOut.add(port);
      return port;
    }
  }
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Ports this process has handed out: one caller may ask for several before it binds any (a Consul
 * cluster's twelve), and a random pick must not repeat one of them.
 */
const handedOut = new Set<number>();
const LOWEST = 20_000;
const SPAN = 10_000;

/** The first port of ip_local_port_range (Linux; elsewhere 0, and listen(0) picks). */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The file exists and this process can read it (a server's data directory filling in). */
export function readable(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}
