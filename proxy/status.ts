// The status port: what others must reach and nothing more (as Istio's 15020/15021): readiness
// for the agent and load balancers, the application's health for the catalog's check, and
// Prometheus metrics for scrapers. The admin interface (admin.ts) stays on loopback.
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { Sidecar } from './sidecar.js';

export const STATUS_ENDPOINTS = 'GET /healthz/ready /healthz/app /stats/prometheus';

export function createStatusServer(sidecar: Sidecar): Server {
  const server = createServer((req, res) => {
    const send = (status: number, body: string, type = 'text/plain') => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, `the status port only reads: ${STATUS_ENDPOINTS}\n`);
    if (path === '/stats/prometheus' || path === '/metrics') send(200, sidecar.metricsText(), 'text/plain; version=0.0.4');
    else if (path === '/healthz/ready' || path === '/ready') {
      const r = sidecar.readiness();
      send(r.ready ? 200 : 503, JSON.stringify(r), 'application/json');
    } else if (path === '/healthz/app') {
      // The catalog's health check: the application itself accepts connections. The probe goes
      // over loopback, which capture never touches, so it sees the app and not the sidecar.
      const o = sidecar.options;
      // A gateway is its own application: healthy when it is ready.
      if (o.gateway) return send(sidecar.readiness().ready ? 200 : 503, sidecar.readiness().ready ? 'ok (gateway)\n' : 'gateway not ready\n');
      void probeTcp(o.appHost, o.appPort).then((err) => (err ? send(503, `application at ${o.appHost}:${o.appPort} is not accepting connections: ${err}\n`) : send(200, 'ok\n')));
    } else send(404, `status endpoints: ${STATUS_ENDPOINTS}\n`);
  });
  // Scrapers and probes send small requests; nothing here needs a long head or body.
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  return server;
}

function probeTcp(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(2000, () => socket.destroy(new Error('timed out')));
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}
