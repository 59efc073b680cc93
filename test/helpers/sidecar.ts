// A sidecar for a test, from defaults: every port chosen by the system, loopback only, short
// intervals, silent logs. Tests name only what they are about.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Sidecar, type SidecarOptions } from '../../proxy/sidecar.js';
import type { ControllerHandle } from './controller.js';

const silent = pino({ level: process.env.MESH_TEST_LOG ?? 'silent' });

export function sidecarOptions(c: ControllerHandle, service: string, appPort: number, overrides: Partial<SidecarOptions> = {}): SidecarOptions {
  const proxyId = overrides.proxyId ?? `${service}-1`;
  return {
    controller: c.url,
    controllerCa: c.ca(),
    service,
    namespace: 'default',
    proxyId,
    trustDomain: 'cluster.local',
    dataDir: mkdtempSync(join(tmpdir(), `mesh-test-${proxyId}-`)),
    appHost: '127.0.0.1',
    appPort,
    bindHost: '127.0.0.1',
    inboundPort: 0,
    outboundPort: -1,
    adminPort: 0,
    upstreams: [],
    drainTimeoutMs: 500,
    telemetryIntervalMs: 60_000,
    headersTimeoutMs: 10_000,
    idleTimeoutMs: 60_000,
    // Built and dropped: the test runner reads this process's stdout (tests of the log itself run mesh-proxy processes).
    accessLog: () => undefined,
    ...overrides,
  };
}

/** Starts a sidecar with a fresh bootstrap token for its service (and service account, when given). */
export async function startSidecar(c: ControllerHandle, service: string, appPort: number, overrides: Partial<SidecarOptions> = {}, identity: { serviceAccount?: string } = {}): Promise<Sidecar> {
  const token = (await c.call('POST', '/v1/tokens', { service, namespace: overrides.namespace ?? 'default', ...(identity.serviceAccount ? { serviceAccount: identity.serviceAccount } : {}) })).json()
    .token as string;
  const s = new Sidecar(sidecarOptions(c, service, appPort, { bootstrapToken: token, ...(identity.serviceAccount ? { serviceAccount: identity.serviceAccount } : {}), ...overrides }), silent);
  await s.start();
  return s;
}
