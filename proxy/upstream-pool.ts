// Connection pools to upstream endpoints: keep-alive agents per endpoint, mTLS (with the mesh
// identity, verifying the server's SPIFFE ID) to endpoints that have a sidecar, plaintext to the
// others. A renewed certificate gives new agents for new connections; open ones finish.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { endpointKey } from '../core/routing/balancer.js';
import type { Cluster, Endpoint } from '../core/snapshot/types.js';
import type { IdentityMaterial } from './identity.js';

export interface Target {
  agent: HttpAgent;
  host: string;
  port: number;
  mtls: boolean;
}

export class UpstreamPool {
  private agents = new Map<string, HttpAgent>();
  private identity: IdentityMaterial | undefined;

  setIdentity(identity: IdentityMaterial): void {
    this.identity = identity;
    // New connections use the new certificate; idle old ones are closed, busy ones finish.
    const old = this.agents;
    this.agents = new Map();
    for (const a of old.values()) setTimeout(() => a.destroy(), 30_000).unref();
  }

  target(cluster: Cluster, e: Endpoint): Target {
    const mtls = useMtls(cluster, e);
    const port = mtls ? (e.sidecarPort ?? e.port) : e.port;
    const key = `${mtls ? 'tls' : 'tcp'}|${endpointKey(e)}|${cluster.tls.subjectAltNames.join(',')}|${cluster.connectionPool.maxConnections}`;
    let agent = this.agents.get(key);
    if (!agent) {
      const maxSockets = Math.min(cluster.connectionPool.maxConnections, 10_000);
      const common = { keepAlive: true, maxSockets, keepAliveMsecs: 1000, timeout: cluster.connectionPool.idleTimeoutMs, scheduling: 'lifo' as const };
      if (mtls) {
        const id = this.identity;
        const expected = cluster.tls.subjectAltNames;
        agent = new HttpsAgent({
          ...common,
          cert: id?.certPem,
          key: id?.keyPem,
          ca: id?.trustBundle,
          ALPNProtocols: ['http/1.1'],
          // The peer proves the destination's identity by its SPIFFE ID, not by a DNS name.
          checkServerIdentity: (_host: string, cert: PeerCertificate) => {
            const uris = (cert.subjectaltname ?? '').split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
            if (expected.length === 0 || uris.some((u) => expected.includes(u))) return undefined;
            return new Error(`upstream presented ${uris.join(', ') || 'no identity'}, expected ${expected.join(' or ')}`);
          },
        });
      } else {
        agent = new HttpAgent(common);
      }
      this.agents.set(key, agent);
    }
    return { agent, host: e.address, port, mtls };
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

function useMtls(c: Cluster, e: Endpoint): boolean {
  switch (c.tls.mode) {
    case 'ISTIO_MUTUAL':
      return true;
    case 'AUTO':
      return e.sidecarPort !== undefined;
    default:
      return false;
  }
}
