// A real Docker engine for the end-to-end tests: the harness starts `dockerd` when none answers
// (as root, with Debian's docker.io installed by scripts/install-test-deps.sh), and builds the
// stand-in base images (scripts/build-base-images.sh) since this machine has no registry.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';

const root = new URL('../../../', import.meta.url).pathname;

function answers(): boolean {
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/** Undefined when a Docker engine answers (started here if needed), else why the tests skip. */
export async function ensureDocker(): Promise<string | undefined> {
  if (spawnSync('docker', ['--version'], { stdio: 'ignore' }).status !== 0) return 'the docker client is not installed (scripts/install-test-deps.sh installs docker.io)';
  if (answers()) return undefined;
  if (process.getuid?.() !== 0) return 'no Docker engine answers, and starting one needs root';
  if (!existsSync('/usr/sbin/dockerd') && !existsSync('/usr/bin/dockerd')) return 'no Docker engine answers and dockerd is not installed';
  const log = openSync('/tmp/mesh-test-dockerd.log', 'a');
  spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] }).unref();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (answers()) return undefined;
    await new Promise((r) => setTimeout(r, 500));
  }
  return 'dockerd did not come up within 60 s (see /tmp/mesh-test-dockerd.log)';
}

/** `docker compose` where the plugin exists, else Debian's `docker-compose`. */
export function composeCommand(): string[] | undefined {
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  return undefined;
}

export function buildBaseImages(): void {
  execFileSync('bash', [`${root}scripts/build-base-images.sh`], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The stand-in base images, then the mesh image and the demo app image from this checkout. */
export async function buildImages(): Promise<void> {
  buildBaseImages();
  await run(['docker', 'build', '-q', '-t', 'hostmesh/mesh:latest', '.']);
  await run(['docker', 'build', '-q', '-t', 'hostmesh/bookinfo:latest', 'examples/bookinfo']);
}

/** Runs a command to completion without blocking the event loop; rejects with its output on failure. */
export function run(cmd: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; allowFailure?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0], cmd.slice(1), { cwd: opts.cwd ?? root, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 || opts.allowFailure ? resolve(out) : reject(new Error(`${cmd.join(' ')} exited ${code}:\n${out.slice(-3000)}`))));
  });
}
