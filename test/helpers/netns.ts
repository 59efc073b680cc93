// Network namespaces made by a test (they stand in for hosts and containers), and programs run
// inside them. Only addresses inside these namespaces are ever used.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function netnsAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  try {
    execFileSync('ip', ['netns', 'list']);
    execFileSync('iptables-restore', ['--version']);
    return undefined;
  } catch {
    return 'ip or iptables-restore is missing (scripts/install-test-deps.sh installs them)';
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export function sh(...args: string[]): string {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8' });
}

/** Runs a node script inside a namespace, optionally as another user. */
export function nodeIn(netns: string, script: string, opts: { uid?: number } = {}): ChildProcess {
  const user = opts.uid !== undefined ? ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups'] : [];
  return spawn('ip', ['netns', 'exec', netns, ...user, process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a node script inside a namespace to completion and returns its output. */
export function nodeOutput(netns: string, script: string, opts: { uid?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    const child = nodeIn(netns, script, opts);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => resolve(out.trim()));
  });
}

/** A TCP server in a namespace that answers every connection with `reply` and closes. */
export function replyServer(netns: string, port: number, reply: string, host = '0.0.0.0'): ChildProcess {
  return nodeIn(netns, `import net from 'node:net'; net.createServer((s) => s.end(${JSON.stringify(reply)})).listen(${port}, ${JSON.stringify(host)}, () => console.log('ready'));`);
}

/** Connects from inside a namespace and prints what came back, or `failed: <reason>`. */
export function probeScript(host: string, port: number): string {
  return `import net from 'node:net';
const s = net.connect({ host: ${JSON.stringify(host)}, port: ${port} });
let got = '';
s.setTimeout(800, () => { console.log('failed: timeout'); process.exit(0); });
s.on('data', (d) => (got += d));
s.on('end', () => { console.log(got); process.exit(0); });
s.on('error', (e) => { console.log('failed: ' + e.code); process.exit(0); });`;
}

export async function waitReady(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server in namespace did not start')), 5000);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
}

/** Two namespaces joined by a veth pair, each with its address on a /24 (and optionally an IPv6 /64) and loopback up. */
export function joinedHosts(a: { name: string; ip: string; ip6?: string }, b: { name: string; ip: string; ip6?: string }): void {
  sh('ip', 'netns', 'add', a.name);
  sh('ip', 'netns', 'add', b.name);
  linkHosts(a, b);
}

/** One more veth pair between two existing namespaces, each end with its address on a /24 (and optionally an IPv6 /64). */
export function linkHosts(a: { name: string; ip: string; ip6?: string }, b: { name: string; ip: string; ip6?: string }): void {
  const [va, vb] = [uniqueName('va'), uniqueName('vb')];
  sh('ip', 'link', 'add', va, 'type', 'veth', 'peer', 'name', vb);
  for (const [host, dev] of [
    [a, va],
    [b, vb],
  ] as const) {
    sh('ip', 'link', 'set', dev, 'netns', host.name);
    sh('ip', '-n', host.name, 'addr', 'add', `${host.ip}/24`, 'dev', dev);
    if (host.ip6) sh('ip', '-n', host.name, 'addr', 'add', `${host.ip6}/64`, 'dev', dev, 'nodad');
    sh('ip', '-n', host.name, 'link', 'set', dev, 'up');
    sh('ip', '-n', host.name, 'link', 'set', 'lo', 'up');
  }
}

/** Deletes namespaces (and with them their veth ends); missing ones are fine. */
export function removeHosts(...names: string[]): void {
  for (const ns of names) {
    try {
      sh('ip', 'netns', 'del', ns);
    } catch {
      // already gone
    }
  }
}
