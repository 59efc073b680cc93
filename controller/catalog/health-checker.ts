// Runs the embedded registry's health checks: HTTP GET must answer 2xx, TCP must connect,
// TTL must be refreshed by a heartbeat. Consul runs these itself in Consul mode.
import { request } from 'node:http';
import { connect } from 'node:net';

export type CheckSpec = { http?: string; tcp?: string; ttl?: string; interval?: string };

const CHECK_TIMEOUT_MS = 2000;

export function probeHttp(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: CHECK_TIMEOUT_MS }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export function probeTcp(hostPort: string): Promise<boolean> {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(i + 1));
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: CHECK_TIMEOUT_MS });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}
