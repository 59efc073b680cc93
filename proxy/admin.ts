// The admin interface: the current snapshot and certificate, metrics, readiness and a drain
// command. It listens on loopback only (as Envoy's admin does under Istio): its snapshot holds
// the workload's policies and endpoints, and POST /drain takes the workload out of the mesh.
// What must be reachable from elsewhere is on the status port (status.ts).
import { createServer, type Server } from 'node:http';
import { certificateInfo } from '../core/pki/certificate-info.js';
import type { Sidecar } from './sidecar.js';

/** Host names a request to the admin interface may carry (loopback, or the address it was bound to). */
function allowedHosts(bindHost: string): Set<string> {
  return new Set(['localhost', '127.0.0.1', '[::1]', bindHost.includes(':') ? `[${bindHost}]` : bindHost]);
}

export function createAdminServer(sidecar: Sidecar): Server {
  const hosts = allowedHosts(sidecar.options.adminBindHost ?? '127.0.0.1');
  return createServer((req, res) => {
    const send = (status: number, body: string, type = 'text/plain') => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    // A web page the operator has open can make the browser send requests to loopback under a
    // host name of its own (DNS rebinding); such requests carry that name, and are refused.
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    if (!hosts.has(host)) return send(403, `the admin interface answers requests for localhost only, not for "${host}"\n`);
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/stats/prometheus' || path === '/metrics')) {
      send(200, sidecar.metricsText(), 'text/plain; version=0.0.4');
    } else if (req.method === 'GET' && path === '/ready') {
      const r = sidecar.readiness();
      send(r.ready ? 200 : 503, JSON.stringify(r), 'application/json');
    } else if (req.method === 'GET' && path === '/config_dump') {
      send(200, JSON.stringify(sidecar.snapshot ?? null), 'application/json');
    } else if (req.method === 'GET' && path === '/proxy_config') {
      send(200, JSON.stringify(sidecar.configDump()), 'application/json');
    } else if (req.method === 'GET' && path === '/certs') {
      const id = sidecar.identity;
      const info = id ? certificateInfo(id.certPem) : undefined;
      send(
        200,
        JSON.stringify(info ? { identity: info.uris[0], notBefore: info.notBefore, notAfter: info.notAfter, serial: info.serialHex, roots: id!.trustBundle.length } : null),
        'application/json',
      );
    } else if (req.method === 'POST' && path === '/drain') {
      sidecar.stopAccepting();
      send(200, 'draining\n');
    } else send(404, 'admin endpoints: GET /stats/prometheus /ready /config_dump /proxy_config /certs, POST /drain\n');
  });
}
