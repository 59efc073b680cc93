// What one compile round costs the controller before it writes anything: every proxy's snapshot
// compiled from the same inputs, and the outbound configs keyed for deltas, as a push after a
// change does (controller/snapshots/hub.ts).
// The mesh of the propagation benchmark: S services of P/S replicas each, two versions, a
// DestinationRule and a VirtualService per service, a mesh-wide PeerAuthentication.
//   node dist/bench/compile-round.js [proxies=10000] [services=1000] [rounds=7]
import type { ServiceInstance } from '../core/catalog-model.js';
import type { Resource } from '../core/resources/types.js';
import { SnapshotCompiler, type CompileContext, type OutboundPiece } from '../core/snapshot/compile.js';
import { median } from './lib.js';

const proxies = Number(process.argv[2] ?? 10_000);
const services = Number(process.argv[3] ?? 1_000);
const rounds = Number(process.argv[4] ?? 7);

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
const ctx: CompileContext = {
  resources,
  services: catalog,
  trustDomain: 'cluster.local',
  rootNamespace: 'istio-system',
  trustBundle: ['-----BEGIN CERTIFICATE-----\n' + 'A'.repeat(700) + '\n-----END CERTIFICATE-----\n'],
};

const times: number[] = [];
for (let r = 0; r < rounds; r++) {
  const t0 = performance.now();
  const compiler = new SnapshotCompiler(ctx);
  const pieces = new Set<OutboundPiece>();
  for (const ref of refs) pieces.add(compiler.compile(ref).outbound);
  // Its services as keyed pieces, which the push makes of every new outbound config for the deltas.
  for (const piece of pieces) piece.keyed();
  times.push(performance.now() - t0);
}
const ms = median(times.slice(1)); // the first round compiles the code too
process.stdout.write(
  `compile round: ${proxies} proxies, ${services} services: median ${ms.toFixed(0)} ms per round, ${((ms * 1000) / proxies).toFixed(1)} µs per proxy (rounds: ${times.map((t) => t.toFixed(0)).join(', ')})\n`,
);
