// Config propagation: 200 services, 500 simulated proxies following the controller's snapshot stream; a
// `meshctl apply` equivalent changes a route, and we time when each proxy holds the new
// snapshot. Also the controllers' memory, and the bytes each change sends (compressed, as on
// the wire) per proxy. The watchers take incremental snapshots (delta=1) and ask for heartbeats
// as sidecars do; BENCH_DELTA=0 makes them ask for whole ones. The proxies are watch loops in
// this process.
//   BENCH_REGISTRY=embedded (default): one controller process on the embedded registry; instances
//     registered through its API.
//   BENCH_REGISTRY=consul: a Consul datacentre on loopback (three servers, a client agent per
//     controller host) and BENCH_CONTROLLERS controllers (2), each on its host's agent; the
//     proxies are spread over them, and instances go into Consul's catalog on the node of the
//     host they run on (100 per node), as agents with --consul-agent register them. A route is
//     applied at the first controller and must reach the proxies of every controller.
//   BENCH_SERVICES, BENCH_PROXIES, BENCH_CHANGES, BENCH_DELTA
//   BENCH_HEARTBEAT=0: watches without heartbeats (the idle controllers' CPU is reported)
//   BENCH_WATCH=poll: long polls (a request per change) instead of the snapshot stream
//   BENCH_FOLLOWER=node: the simulated proxies follow their streams with Node's HTTP client
//     instead of stream-follower.ts (a plain TLS socket speaking the same bytes, cheaper for the
//     two cores this process shares with the controllers)
//   BENCH_FAILOVER=1 (Consul mode): at the end, the first controller is killed and a route
//     applied at the second must reach every proxy (its proxies move over as sidecars do)
//   BENCH_RESUME=0: the simulated proxies offer no earlier TLS session when they connect (each
//     connection a full handshake, as before 2026-12-04, eleventh session)
//   BENCH_ACK_DELAY=0: the simulated proxies acknowledge each snapshot at once (as sidecars did
//     before 2026-12-05, thirteenth session), not ACK_DELAY_MS later (core/snapshot/deferred-ack.ts)
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import * as os from 'node:os';
import { recommendedConnectionLimit } from '../controller/catalog/consul-catalog.js';
import { metaFromRegistration } from '../core/catalog-model.js';
import { generateKeyPair, signerFor } from '../core/pki/keys.js';
import { buildCsr } from '../core/pki/x509.js';
import { startConsulCluster } from '../test/helpers/consul-cluster.js';
import { rawStreamer, type SessionHolder } from './stream-follower.js';
import { ACK_DELAY, caller, median, workloadCaller, workloadStreamer, percentile, procStat, startControllerProcess, type ControllerProcess } from './lib.js';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 200);
const PROXIES = Number(process.env.BENCH_PROXIES ?? 500);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 5);
const DELTA = process.env.BENCH_DELTA !== '0';
const REGISTRY = process.env.BENCH_REGISTRY ?? 'embedded';
const CONTROLLERS = REGISTRY === 'consul' ? Number(process.env.BENCH_CONTROLLERS ?? 2) : 1;
const FAILOVER = process.env.BENCH_FAILOVER === '1';
/** BENCH_RESUME=0: the simulated proxies offer no earlier TLS session (each connection a full handshake). */
const RESUME = process.env.BENCH_RESUME !== '0';
/** BENCH_HEARTBEAT=0: watches without heartbeats, to see what they cost an idle controller. */
const HEARTBEAT = process.env.BENCH_HEARTBEAT !== '0';
/** BENCH_WATCH=poll: the proxies long-poll (GET /v1/snapshots, a request per change) instead of following the snapshot stream, as sidecars do with a controller that has none. */
const STREAM = process.env.BENCH_WATCH !== 'poll';
/** BENCH_FOLLOWER=node: streams followed with Node's HTTP client (as before 2026-12-04) instead of a plain TLS socket. */
const FOLLOWER = process.env.BENCH_FOLLOWER === 'node' ? 'node' : 'raw';

interface Watcher {
  id: string;
  service: string;
  version: string;
  gotAt: Map<string, number>;
  /** Bytes received, as on the wire. */
  bytes: number;
  /** Index of the controller it watches. */
  at: number;
}

interface Instance {
  id: string;
  service: string;
  address: string;
  version: string;
}

/** The controllers, and how an instance enters and leaves the catalog they read. */
interface Mesh {
  controllers: ControllerProcess[];
  register(i: Instance): Promise<void>;
  deregister(id: string): Promise<void>;
  stop(): Promise<void>;
}

const registration = (i: Instance) => ({ id: i.id, service: i.service, address: i.address, port: 8080, labels: { version: i.version }, sidecar: { inboundPort: 15006 } });

async function embeddedMesh(): Promise<Mesh> {
  const controller = await startControllerProcess();
  const call = caller(controller, 64, true);
  return {
    controllers: [controller],
    register: async (i) => {
      const res = await call('POST', '/v1/catalog/instances', JSON.stringify(registration(i)));
      if (res.status !== 201) throw new Error(`register failed: ${res.text}`);
    },
    deregister: async (id) => {
      await call('DELETE', `/v1/catalog/instances/${id}`);
    },
    stop: async () => {
      controller.stop();
      await exited([controller]);
    },
  };
}

async function consulMesh(): Promise<Mesh> {
  // A controller holds a blocking query per service: the agents allow that many connections
  // (the README's Consul section says to set this; the controller's /healthz says so when short).
  const cluster = await startConsulCluster({ httpMaxConnsPerClient: Math.max(200, recommendedConnectionLimit(SERVICES)) });
  const controllers: ControllerProcess[] = [];
  try {
    for (let k = 0; k < CONTROLLERS; k++) {
      const host = await cluster.addClient(`controller-host-${k + 1}`);
      controllers.push(await startControllerProcess(['--consul', host.address]));
    }
  } catch (err) {
    for (const c of controllers) c.stop();
    await cluster.stop();
    throw err;
  }
  // Straight into the catalog through a server, as a host's Consul agent syncs what it holds.
  const server = cluster.servers[0].address.split(':');
  const catalog = (path: string, body: object) =>
    new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: server[0], port: Number(server[1]), method: 'PUT', path, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`Consul ${path}: ${res.statusCode} ${text}`))));
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  const nodeOf = new Map<string, string>();
  let registered = 0;
  return {
    controllers,
    register: async (i) => {
      const node = `workload-host-${Math.floor(registered++ / 100)}`;
      nodeOf.set(i.id, node);
      await catalog('/v1/catalog/register', {
        Node: node,
        Address: i.address,
        SkipNodeUpdate: true,
        Service: { ID: i.id, Service: i.service, Address: i.address, Port: 8080, Meta: metaFromRegistration(registration(i)) },
      });
    },
    deregister: async (id) => {
      await catalog('/v1/catalog/deregister', { Node: nodeOf.get(id), ServiceID: id });
    },
    stop: async () => {
      for (const c of controllers) c.stop();
      await exited(controllers);
      await cluster.stop();
    },
  };
}

/** A controller's CPU time so far in USER_HZ ticks (100 per second), user + system. */
function ticks(c: ControllerProcess): number {
  const fields = procStat(c.child.pid!);
  return Number(fields[11]) + Number(fields[12]);
}

/** The machine's busy CPU time so far, in USER_HZ ticks, over all cores (/proc/stat: all but idle and iowait). */
function machineBusyTicks(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return fields.slice(0, 8).reduce((a, b) => a + b, 0) - fields[3] - fields[4];
}

/** Each controller's CPU time over `ms`, as a share of one core (from /proc/<pid>/stat: user + system). */
async function cpuShare(controllers: ControllerProcess[], ms: number): Promise<number[]> {
  const before = controllers.map(ticks);
  await new Promise((r) => setTimeout(r, ms));
  // Linux counts in USER_HZ, 100 per second.
  return controllers.map((c, k) => (ticks(c) - before[k]) / 100 / (ms / 1000));
}

/** Waits for stopped controllers to exit (at most 20 s): each writes its CPU profile as it does (BENCH_CONTROLLER_PROFILE_DIR). */
async function exited(controllers: ControllerProcess[]): Promise<void> {
  const gone = (c: ControllerProcess) => c.child.exitCode !== null || c.child.signalCode !== null;
  const deadline = Date.now() + 20_000;
  while (controllers.some((c) => !gone(c)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

/** A workload certificate per service (`svc-<n>`), issued as a sidecar gets its own: a key made here, a bootstrap token, a CSR. */
async function serviceIdentities(controller: ControllerProcess, services: number): Promise<Map<string, { cert: string; key: string }>> {
  const identities = new Map<string, { cert: string; key: string }>();
  const call = caller(controller, 16);
  await inParallel(services, 16, async (n) => {
    const service = `svc-${n}`;
    const minted = await call('POST', '/v1/tokens', JSON.stringify({ service, ttl: '1h' }));
    if (minted.status !== 201) throw new Error(`token for ${service}: ${minted.status} ${minted.text}`);
    const key = generateKeyPair();
    const csr = buildCsr(key.spkiDer, { uris: [] }, signerFor(key.privateKey));
    const signed = await call('POST', '/v1/ca/sign', JSON.stringify({ csr }), (JSON.parse(minted.text) as { token: string }).token);
    if (signed.status !== 200) throw new Error(`certificate for ${service}: ${signed.status} ${signed.text}`);
    identities.set(service, { cert: (JSON.parse(signed.text) as { certificate: string }).certificate, key: key.privateKeyPem });
  });
  return identities;
}

/** Runs `n` jobs, `width` at a time. */
async function inParallel(n: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

async function main(): Promise<void> {
  const setupStarted = performance.now();
  const mesh = REGISTRY === 'consul' ? await consulMesh() : await embeddedMesh();
  const { controllers } = mesh;
  const call = caller(controllers[0], 64, true);
  let stop = false;
  try {
    // The catalog: 200 services with 2-3 instances each, 500 instances in all; one proxy per instance.
    const watchers: Watcher[] = [];
    for (let i = 0; i < PROXIES; i++) {
      const service = `svc-${i % SERVICES}`;
      watchers.push({ id: `${service}-${Math.floor(i / SERVICES)}`, service, version: '', gotAt: new Map(), bytes: 0, at: i % controllers.length });
    }
    // As sidecars: each proxy its own connection to its controller (another one once that one is
    // lost), authenticated by the workload certificate of its service. They ask for gzip, as the
    // sidecar does, read the version from the frame's head (a poll's ETag) and never decompress a
    // snapshot (10,000 whole first snapshots would not fit in this process).
    const identities = await serviceIdentities(controllers[0], Math.min(SERVICES, PROXIES));
    // A proxy's connection to each controller it has watched, made on first use.
    // A proxy's newest TLS session, offered to whichever controller it connects to next (as the sidecar does).
    const sessionsOf = new Map<Watcher, SessionHolder>();
    const sessions = (w: Watcher): SessionHolder | undefined => {
      if (!RESUME) return undefined;
      let held = sessionsOf.get(w);
      if (!held) sessionsOf.set(w, (held = {}));
      return held;
    };
    const perController = <T>(make: (c: ControllerProcess, identity: { cert: string; key: string }, sessions?: SessionHolder) => T) => {
      const made = new Map<Watcher, T[]>();
      return (w: Watcher): T => {
        let own = made.get(w);
        if (!own) made.set(w, (own = []));
        return (own[w.at] ??= make(controllers[w.at], identities.get(w.service)!, sessions(w)));
      };
    };
    const watchCall = perController(workloadCaller);
    const followCall = perController(FOLLOWER === 'node' ? workloadStreamer : rawStreamer);
    await inParallel(PROXIES, 32, (i) =>
      mesh.register({ id: watchers[i].id, service: watchers[i].service, address: `127.${Math.floor(i / 62500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`, version: `v${1 + (i % 2)}` }),
    );
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

    const watchErrors = new Map<string, number>();
    /** Controllers killed by the failover phase. */
    const dead = new Set<number>();
    const loops = watchers.map(async (w) => {
      while (!stop) {
        try {
          const query = `proxy=${w.id}&service=${w.service}&version=${w.version}&wait=60s${HEARTBEAT ? '&heartbeat=4s' : ''}${DELTA && w.version ? '&delta=1' : ''}`;
          if (STREAM) {
            await followCall(w)(`/v1/snapshots/stream?${query}`, (version, bytes) => {
              w.bytes += bytes;
              w.version = version;
              w.gotAt.set(version, performance.now());
            });
            continue;
          }
          const res = await watchCall(w)('GET', `/v1/snapshots?${query}`);
          if (stop) break;
          w.bytes += res.bytes;
          if (res.status === 200) {
            const version = JSON.parse(res.etag!) as string;
            w.version = version;
            w.gotAt.set(version, performance.now());
          } else if (res.status !== 304) throw new Error(`watch failed: ${res.status} ${res.text}`);
        } catch (err) {
          // As a sidecar does: the watch is asked again after a short, jittered wait (10,000
          // connections opened at once overflow the listen queue now and then). Counted below.
          if (stop) break;
          const reason = (err as Error).message;
          watchErrors.set(reason, (watchErrors.get(reason) ?? 0) + 1);
          // A controller that is gone is left for the next one, as the sidecar's --controller list is.
          if (dead.has(w.at)) w.at = (w.at + 1) % controllers.length;
          await new Promise((r) => setTimeout(r, 200 + Math.random() * 200));
        }
      }
    });
    const waitAll = async (pred: () => boolean, what: string, limitMs = 60_000) => {
      const deadline = Date.now() + limitMs;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    console.error(`registered ${PROXIES} instances after ${((performance.now() - setupStarted) / 1000).toFixed(0)} s`);
    const progress = setInterval(
      () => console.error(`${watchers.filter((w) => w.version !== '').length} proxies hold a snapshot after ${((performance.now() - setupStarted) / 1000).toFixed(0)} s`),
      10_000,
    );
    await waitAll(() => watchers.every((w) => w.version !== ''), 'every proxy to get its first snapshot', 600_000).finally(() => clearInterval(progress));
    // Settled: the catalog (Consul's blocking queries) and the resources have reached every
    // controller when no proxy has received anything for 3 s.
    const lastChange = () => Math.max(...watchers.map((w) => Math.max(0, ...w.gotAt.values())));
    await waitAll(() => performance.now() - lastChange() > 3000, 'the proxies to settle', 600_000);
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    const idle = controllers.map((c) => c.rssMb());
    // What holding the watches costs with nothing changing (heartbeats included unless BENCH_HEARTBEAT=0).
    const idleCpu = await cpuShare(controllers, 20_000);

    // Each change: time from the API call until every proxy holds a snapshot newer than before it.
    const timeChange = async (change: () => Promise<void>) => {
      const before = new Map(watchers.map((w) => [w.id, w.version]));
      const bytesBefore = watchers.reduce((n, w) => n + w.bytes, 0);
      const framesBefore = watchers.reduce((n, w) => n + w.gotAt.size, 0);
      const cpuBefore = { controllers: controllers.map((c) => (dead.has(controllers.indexOf(c)) ? 0 : ticks(c))), proxies: process.cpuUsage(), machine: machineBusyTicks() };
      const started = performance.now();
      await change();
      await waitAll(() => watchers.every((w) => w.version !== before.get(w.id)), 'every proxy to get the change');
      // CPU seconds until every proxy held it: the controllers', the simulated proxies' (this
      // process: on a real mesh they run on other hosts), and the whole machine's (Consul's too).
      const proxiesCpu = process.cpuUsage(cpuBefore.proxies);
      const cpu = {
        controllers: controllers.map((c, k) => (dead.has(k) ? 0 : (ticks(c) - cpuBefore.controllers[k]) / 100)),
        proxies: (proxiesCpu.user + proxiesCpu.system) / 1e6,
        machine: (machineBusyTicks() - cpuBefore.machine) / 100,
      };
      const delays = watchers.map((w) => w.gotAt.get(w.version)! - started).sort((a, b) => a - b);
      // Each controller's own proxies: a change late at one controller (its watch of Consul, its push) shows here.
      const byController = controllers.map((_, k) => {
        const own = watchers
          .filter((w) => w.at === k)
          .map((w) => w.gotAt.get(w.version)! - started)
          .sort((a, b) => a - b);
        return own.length > 0 ? { first: own[0], p99: percentile(own, 99) } : undefined;
      });
      const perProxy = (watchers.reduce((n, w) => n + w.bytes, 0) - bytesBefore) / watchers.length;
      // Snapshots each proxy took until then: one, unless the change reached the controllers in steps.
      const frames = (watchers.reduce((n, w) => n + w.gotAt.size, 0) - framesBefore) / watchers.length;
      // On stderr, with the time of day: to line a slow change up with what else ran then (Consul's raft snapshots, a GC).
      console.error(`${new Date(Date.now() - (performance.now() - started)).toISOString()} change: first ${delays[0].toFixed(0)} ms, p99 ${percentile(delays, 99).toFixed(0)} ms`);
      // The proxies acknowledge a moment later (ACK_DELAY): those are in before the next change,
      // which is timed as it would be alone. What the change cost until then, acknowledgements and
      // heartbeats included, is reported too.
      await new Promise((r) => setTimeout(r, ACK_DELAY + 500));
      const withAcks = controllers.reduce((n, c, k) => n + (dead.has(k) ? 0 : (ticks(c) - cpuBefore.controllers[k]) / 100), 0);
      return { first: delays[0], p50: percentile(delays, 50), p99: percentile(delays, 99), max: delays[delays.length - 1], perProxy, frames, byController, cpu, withAcks };
    };
    const applyRoute = async (via: typeof call, c: number) => {
      const weight = 10 + (c % 80); // a valid split for any number of changes
      const res = await via(
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
    };
    const routes = [];
    for (let c = 0; c < CHANGES; c++) routes.push(await timeChange(() => applyRoute(call, c)));
    // Endpoint changes: a new instance registered (routable once the callers hold it), then gone.
    const endpoints = [];
    for (let c = 0; c < CHANGES; c++) {
      const id = `svc-1-extra-${c}`;
      endpoints.push(
        await timeChange(async () => {
          await mesh.register({ id, service: 'svc-1', address: `127.250.9.${c + 1}`, version: 'v1' });
        }),
      );
      // Its removal is a change too: waited for (not reported), so that it is not counted in the next one.
      await timeChange(() => mesh.deregister(id));
    }
    const loaded = controllers.map((c) => c.rssMb());
    // BENCH_FAILOVER=1 (Consul mode): the first controller is killed (SIGKILL, as a crash), its
    // proxies move to the next one, and a route applied there must reach every proxy; the time
    // runs from the kill, so it includes every proxy's reconnection and fetch.
    let failover:
      | {
          p50: number;
          p99: number;
          max: number;
          errors: number;
          rss: { rss: number; peak: number };
          movedBytes: number;
          resumed: number;
          cpu: { controllers: number[]; proxies: number; machine: number };
        }
      | undefined;
    if (FAILOVER && controllers.length > 1) {
      const errorsBefore = [...watchErrors.values()].reduce((a, b) => a + b, 0);
      // What the moved proxies are sent until they hold the change: deltas, or whole snapshots.
      const moved = watchers.filter((w) => w.at === 0);
      const movedBytesBefore = moved.reduce((n, w) => n + w.bytes, 0);
      const resumedBefore = moved.reduce((n, w) => n + (sessionsOf.get(w)?.resumed ?? 0), 0);
      const survivor = caller(controllers[1], 64, true);
      const t = await timeChange(async () => {
        dead.add(0);
        // Said on stderr, for whoever profiles the survivor through the failover.
        console.error(`killing controller 1 (pid ${controllers[0].child.pid}); controller 2 is pid ${controllers[1].child.pid}`);
        controllers[0].child.kill('SIGKILL');
        await applyRoute(survivor, CHANGES);
      });
      const movedBytes = (moved.reduce((n, w) => n + w.bytes, 0) - movedBytesBefore) / Math.max(1, moved.length);
      const resumed = moved.reduce((n, w) => n + (sessionsOf.get(w)?.resumed ?? 0), 0) - resumedBefore;
      failover = { ...t, errors: [...watchErrors.values()].reduce((a, b) => a + b, 0) - errorsBefore, rss: controllers[1].rssMb(), movedBytes, resumed };
    }
    stop = true;
    const f = (v: number[]) => `median ${median(v).toFixed(0)} ms (runs: ${v.map((x) => x.toFixed(0)).join(', ')})`;
    const where = REGISTRY === 'consul' ? `${controllers.length} controllers on a 3-server Consul datacentre` : 'one controller on the embedded registry';
    console.log(
      `config propagation: ${where}; ${SERVICES} services, ${PROXIES} proxies watching (${STREAM ? `streams followed by ${FOLLOWER === 'node' ? "Node's HTTP client" : 'plain TLS sockets'}` : 'long polls'}, ${DELTA ? 'incremental' : 'whole'} snapshots), ${CHANGES} route changes, ${CHANGES} new endpoints; set up in ${setupSeconds.toFixed(0)} s`,
    );
    for (const [what, xs] of [
      ['apply -> every proxy holds the new route', routes],
      ['register -> every proxy holds the endpoint', endpoints],
    ] as const) {
      // The first proxy's time is the change's way to the controllers (Consul, compile); the rest is the push.
      console.log(`  ${what}: first ${f(xs.map((x) => x.first))}`);
      console.log(`  ${' '.repeat(what.length)}  p50 ${f(xs.map((x) => x.p50))}`);
      console.log(`  ${' '.repeat(what.length)}  p99 ${f(xs.map((x) => x.p99))}`);
      console.log(`  ${' '.repeat(what.length)}  max ${f(xs.map((x) => x.max))}`);
      if (controllers.length > 1) {
        const each = (x: (typeof xs)[number]) => x.byController.map((c, k) => (c ? `${k + 1}: ${c.first.toFixed(0)}/${c.p99.toFixed(0)}` : `${k + 1}: -`)).join(' ');
        console.log(`  ${' '.repeat(what.length)}  per controller, first/p99 ms: ${xs.map((x) => `(${each(x)})`).join(', ')}`);
      }
      const sent = median(xs.map((x) => x.perProxy));
      const frames = median(xs.map((x) => x.frames));
      console.log(`  ${' '.repeat(what.length)}  sent per proxy per change: median ${sent.toFixed(0)} bytes in ${frames.toFixed(2)} snapshots, all proxies ${((sent * PROXIES) / 1e6).toFixed(2)} MB`);
      const s = (v: number[]) => `${median(v).toFixed(2)} s`;
      console.log(
        `  ${' '.repeat(what.length)}  CPU per change, median: controllers ${controllers.map((_, k) => s(xs.map((x) => x.cpu.controllers[k]))).join(', ')}; the simulated proxies ${s(xs.map((x) => x.cpu.proxies))}; the machine ${s(xs.map((x) => x.cpu.machine))} (${os.availableParallelism()} cores)`,
      );
      console.log(
        `  ${' '.repeat(what.length)}  the controllers' CPU per change until the acknowledgements are in (${ACK_DELAY + 500} ms later, heartbeats included): median ${s(xs.map((x) => x.withAcks))} together`,
      );
    }

    console.log(`  controller CPU with nothing changing, over 20 s (watches ${HEARTBEAT ? 'with' : 'without'} heartbeats): ${idleCpu.map((c) => `${(100 * c).toFixed(1)} %`).join(', ')} of a core`);
    controllers.forEach((_, k) =>
      console.log(`  controller ${k + 1} RSS: ${idle[k].rss.toFixed(0)} MB with its proxies connected, ${loaded[k].rss.toFixed(0)} MB after the changes, peak ${loaded[k].peak.toFixed(0)} MB`),
    );
    if (failover)
      console.log(
        `  controller 1 killed (a route applied at controller 2 at once) -> every proxy holds a newer snapshot: p50 ${failover.p50.toFixed(0)} ms, p99 ${failover.p99.toFixed(0)} ms, max ${failover.max.toFixed(0)} ms; ${failover.errors} watches failed over (${failover.resumed} of them resumed their TLS session${RESUME ? '' : ': BENCH_RESUME=0'}), each moved proxy sent ${failover.movedBytes.toFixed(0)} bytes; controller 2 RSS then ${failover.rss.rss.toFixed(0)} MB (peak ${failover.rss.peak.toFixed(0)} MB) with all ${PROXIES} proxies; CPU until then: controller 2 ${failover.cpu.controllers[1].toFixed(2)} s, the simulated proxies ${failover.cpu.proxies.toFixed(2)} s, the machine ${failover.cpu.machine.toFixed(2)} s (${os.availableParallelism()} cores)`,
      );
    if (watchErrors.size > 0) console.log(`  watches that failed and were asked again: ${[...watchErrors].map(([why, n]) => `${n} × ${why}`).join('; ')}`);
    console.log('  targets: p99 <= 1000 ms, RSS < 500 MB per controller');
    void loops;
  } finally {
    stop = true;
    await mesh.stop();
    setTimeout(() => process.exit(0), 100).unref();
  }
}

// Stopped from outside (a timeout, ^C): exit, so that the controllers and Consul agents go too.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
