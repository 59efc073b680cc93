// What one compile round costs the controller before it writes anything: every proxy's snapshot
// compiled, and the outbound configs keyed for deltas, as a push after a change does
// (controller/snapshots/hub.ts): with nothing to reuse, and reusing the round before after an
// endpoint change and after a route change (core/snapshot/compile-memo.ts).
// The mesh of the propagation benchmark: S services of P/S replicas each, two versions, a
// DestinationRule and a VirtualService per service, a mesh-wide PeerAuthentication; and E
// ServiceEntries of one external host each (none by default).
//   node dist/bench/compile-round.js [proxies=10000] [services=1000] [rounds=7] [entries=0]
import type { ServiceInstance } from '../core/catalog-model.js';
import type { Resource } from '../core/resources/types.js';
import { SnapshotCompiler, type CompileContext, type OutboundPiece } from '../core/snapshot/compile.js';
import { median } from './lib.js';

const proxies = Number(process.argv[2] ?? 10_000);
const services = Number(process.argv[3] ?? 1_000);
const rounds = Number(process.argv[4] ?? 7);
const entries = Number(process.argv[5] ?? 0);

const resource = (kind: string, name: string, spec: object, namespace = 'default'): Resource => ({ apiVersion: 'networking.istio.io/v1', kind, metadata: { name, namespace }, spec }) as Resource;

const catalog = new Map<string, ServiceInstance[]>();
const refs: { id: string; service: string; namespace: string }[] = [];
for (let i = 0; i < proxies; i++) {
  const service = `svc-${i % services}`;
  const instance: ServiceInstance = {
    id: `${service}-${i}`,
    service,
    namespace: 'default',
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 8080,
    protocol: 'http',
    labels: { version: `v${1 + (i % 2)}` },
    sidecar: { inboundPort: 15006 },
    healthy: true,
  };
  const list = catalog.get(`default/${service}`) ?? [];
  list.push(instance);
  catalog.set(`default/${service}`, list);
  refs.push({ id: instance.id, service, namespace: 'default' });
}
const resources: Resource[] = [resource('PeerAuthentication', 'default', { mtls: { mode: 'STRICT' } }, 'istio-system')];
for (let s = 0; s < services; s++) {
  const host = `svc-${s}`;
  resources.push(
    resource('DestinationRule', host, { host, subsets: ['v1', 'v2'].map((v) => ({ name: v, labels: { version: v } })) }),
    resource('VirtualService', host, {
      hosts: [host],
      http: [
        {
          route: [
            { destination: { host, subset: 'v1' }, weight: 90 },
            { destination: { host, subset: 'v2' }, weight: 10 },
          ],
        },
      ],
    }),
  );
}
for (let e = 0; e < entries; e++)
  resources.push(resource('ServiceEntry', `ext-${e}`, { hosts: [`ext-${e}.example.com`], ports: [{ number: 443, name: 'tls', protocol: 'TLS' }], resolution: 'DNS', location: 'MESH_EXTERNAL' }));
const ctx: CompileContext = {
  resources,
  services: catalog,
  trustDomain: 'cluster.local',
  rootNamespace: 'istio-system',
  trustBundle: ['-----BEGIN CERTIFICATE-----\n' + 'A'.repeat(700) + '\n-----END CERTIFICATE-----\n'],
};

/** One round as a push makes it: every proxy compiled, the new outbound configs keyed for the deltas. */
function round(context: CompileContext, previous?: SnapshotCompiler): { ms: number; compiler: SnapshotCompiler } {
  const t0 = performance.now();
  const compiler = new SnapshotCompiler(context, previous?.memo);
  const pieces = new Set<OutboundPiece>();
  for (const ref of refs) pieces.add(compiler.compile(ref).outbound);
  for (const piece of pieces) piece.keyed();
  return { ms: performance.now() - t0, compiler };
}

// Rounds with nothing to reuse (a controller's first, or one after a restart), then rounds after
// one endpoint change (a new instance list for one service, as the catalog hands it over) and
// after one route change (a new VirtualService object), each reusing the round before.
const kinds = { fresh: [] as number[], endpoint: [] as number[], route: [] as number[] };
let last: SnapshotCompiler | undefined;
let current = ctx;
for (let r = 0; r < rounds; r++) {
  kinds.fresh.push(round(current).ms);
  const services = new Map(current.services);
  const key = `default/svc-${r % services.size}`;
  services.set(
    key,
    services.get(key)!.map((i, n) => (n === 0 ? { ...i, address: `10.255.0.${r + 1}` } : { ...i })),
  );
  last = round(current).compiler;
  current = { ...current, services };
  let step = round(current, last);
  kinds.endpoint.push(step.ms);
  const vsIndex = current.resources.findIndex((x) => x.kind === 'VirtualService' && x.metadata.name === `svc-${r % services.size}`);
  const resources = [...current.resources];
  resources[vsIndex] = structuredClone(resources[vsIndex]);
  current = { ...current, resources };
  step = round(current, step.compiler);
  kinds.route.push(step.ms);
}
// The first round of each kind compiles the code too.
const report = (name: string, times: number[]) => {
  const ms = median(times.slice(1));
  return `${name}: median ${ms.toFixed(0)} ms per round, ${((ms * 1000) / proxies).toFixed(1)} µs per proxy (rounds: ${times.map((t) => t.toFixed(0)).join(', ')})`;
};
process.stdout.write(
  `compile round: ${proxies} proxies, ${services} services, ${entries} ServiceEntries\n  ${report('nothing to reuse', kinds.fresh)}\n  ${report('after an endpoint change', kinds.endpoint)}\n  ${report('after a route change', kinds.route)}\n`,
);
