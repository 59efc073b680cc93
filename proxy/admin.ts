// The admin port (excluded from interception): Prometheus metrics, readiness, the current
// snapshot and certificate, and a drain command.
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { certificateInfo } from '../core/pki/certificate-info.js';
import type { Sidecar } from './sidecar.js';

export function createAdminServer(sidecar: Sidecar): Server {
  return createServer((req, res) => {
    const send = (status: number, body: string, type = 'text/plain') => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/stats/prometheus' || path === '/metrics')) {
      send(200, sidecar.metricsText(), 'text/plain; version=0.0.4');
    } else if (req.method === 'GET' && path === '/ready') {
      const r = sidecar.readiness();
      send(r.ready ? 200 : 503, JSON.stringify(r), 'application/json');
    } else if (req.method === 'GET' && path === '/healthz/app') {
      // The catalog's health check: the application itself accepts connections. The probe goes
      // over loopback, which capture never touches, so it sees the app and not the sidecar.
      const o = sidecar.options;
      void probeTcp(o.appHost, o.appPort).then((err) =>
        err ? send(503, `application at ${o.appHost}:${o.appPort} is not accepting connections: ${err}\n`) : send(200, 'ok\n'),
      );
    } else if (req.method === 'GET' && path === '/config_dump') {
      send(200, JSON.stringify(sidecar.snapshot ?? null), 'application/json');
    } else if (req.method === 'GET' && path === '/certs') {
      const id = sidecar.identity;
      const info = id ? certificateInfo(id.certPem) : undefined;
      send(200, JSON.stringify(info ? { identity: info.uris[0], notBefore: info.notBefore, notAfter: info.notAfter, serial: info.serialHex, roots: id!.trustBundle.length } : null), 'application/json');
    } else if (req.method === 'POST' && path === '/drain') {
      sidecar.drain();
      send(200, 'draining\n');
    } else send(404, 'admin endpoints: GET /stats/prometheus /ready /healthz/app /config_dump /certs, POST /drain\n');
  });
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
