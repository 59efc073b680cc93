// AuthorizationPolicy CUSTOM with an HTTP external authorizer (Istio's envoyExtAuthzHttp
// provider, from the controller's --mesh-config), on every inbound codec: the HTTP/1.1 relay,
// Node's HTTP path, HTTP/2 and WebSocket upgrades. The authorizer behaves as Istio's ext-authz
// sample: it allows requests carrying `x-ext-authz: allow`.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect as h2connect, type IncomingHttpHeaders } from 'node:http2';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';

describe('AuthorizationPolicy CUSTOM with an HTTP external authorizer', () => {
  let c: TestController;
  let app: TestApp;
  let authorizer: Server;
  const checks: { path: string; header: string | undefined }[] = [];
  let backend: Sidecar;

  before(async () => {
    authorizer = createServer((req, res) => {
      checks.push({ path: req.url ?? '', header: req.headers['x-ext-authz'] as string | undefined });
      if (req.headers['x-ext-authz'] === 'allow') {
        res.writeHead(200, { 'x-ext-authz-check-result': 'allowed' });
        return res.end();
      }
      res.writeHead(403, { 'x-ext-authz-check-result': 'denied', 'content-type': 'text/plain' });
      res.end('denied by ext_authz for not found header `x-ext-authz: allow` in the request');
    });
    await new Promise<void>((r) => authorizer.listen(0, '127.0.0.1', r));
    const authzPort = (authorizer.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'mesh-extauthz-'));
    writeFileSync(
      join(dir, 'mesh.yaml'),
      `extensionProviders:\n- name: sample-ext-authz-http\n  envoyExtAuthzHttp:\n    service: ext-authz\n    port: ${authzPort}\n    includeRequestHeadersInCheck: [x-ext-authz]\n    headersToUpstreamOnAllow: [x-ext-authz-check-result]\n    headersToDownstreamOnDeny: [x-ext-authz-check-result]\n`,
    );
    c = await startController({ meshConfig: join(dir, 'mesh.yaml') });
    app = await startApp('backend');
    // The authorizer is a mesh service without a sidecar, as Istio's sample runs it.
    await c.call('POST', '/v1/catalog/instances', { id: 'ext-authz-1', service: 'ext-authz', address: '127.0.0.1', port: authzPort, protocol: 'http' });
    backend = await startSidecar(c, 'backend', app.port);
    const applied = await c.call('POST', '/v1/apply', {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'ext-authz', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'backend' } }, action: 'CUSTOM', provider: { name: 'sample-ext-authz-http' }, rules: [{ to: [{ operation: { paths: ['/headers', '/chat'] } }] }] },
    });
    assert.equal(applied.status, 200, applied.text);
    await waitFor(
      'the CUSTOM policy and the authorizer at the backend',
      () => (backend.snapshot?.inbound.authorization.custom?.[0]?.provider !== undefined && backend.snapshot.outbound.services.some((s) => s.name === 'ext-authz')) || undefined,
      5000,
    );
  });

  after(async () => {
    await backend?.close();
    await app?.close();
    await new Promise((r) => authorizer.close(r));
    await c?.close();
  });

  const port = () => backend.ports.inbound;

  it("HTTP/1.1 on the relay: denied with the authorizer's answer, allowed with its header passed on, unmatched paths never checked", async () => {
    const hits = app.hits;
    const denied = await get(port(), '/headers', { host: 'backend' });
    assert.equal(denied.status, 403);
    assert.equal(denied.headers['x-mesh-response-flags'], 'UAEX');
    assert.equal(denied.headers['x-ext-authz-check-result'], 'denied');
    assert.match(denied.body, /denied by ext_authz/);
    assert.equal(app.hits, hits, 'the denied request never reached the application');
    const allowed = await get(port(), '/headers', { host: 'backend', 'x-ext-authz': 'allow' });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.json().headers['x-ext-authz-check-result'], 'allowed', 'headersToUpstreamOnAllow');
    const posted = await get(port(), '/headers', { host: 'backend', 'x-ext-authz': 'allow', 'content-type': 'text/plain', 'content-length': '5' }, 'POST', 'hello');
    assert.equal(posted.status, 200, 'a request with a body is checked without it, then forwarded with it');
    const before = checks.length;
    assert.equal((await get(port(), '/ip', { host: 'backend' })).status, 200);
    assert.equal(checks.length, before, 'a path the policy does not name is not checked');
  });

  it("HTTP/1.1 on Node's path (a chunked body): the same decisions", async () => {
    const denied = await get(port(), '/headers', { host: 'backend', 'transfer-encoding': 'chunked' }, 'POST', 'x');
    assert.equal(denied.status, 403);
    assert.equal(denied.headers['x-mesh-response-flags'], 'UAEX');
    const allowed = await get(port(), '/headers', { host: 'backend', 'transfer-encoding': 'chunked', 'x-ext-authz': 'allow' }, 'POST', 'x');
    assert.equal(allowed.status, 200);
    assert.equal(allowed.json().headers['x-ext-authz-check-result'], 'allowed');
  });

  it('HTTP/2: the same decisions', async () => {
    const session = h2connect(`http://127.0.0.1:${port()}`);
    const ask = (headers: Record<string, string>) =>
      new Promise<{ head: IncomingHttpHeaders; body: string }>((resolve, reject) => {
        const s = session.request({ ':authority': 'backend', ':path': '/headers', ...headers });
        let body = '';
        let head: IncomingHttpHeaders = {};
        s.on('response', (h) => (head = h));
        s.on('data', (d: Buffer) => (body += d));
        s.on('end', () => resolve({ head, body }));
        s.on('error', reject);
        s.end();
      });
    try {
      const denied = await ask({});
      assert.equal(denied.head[':status'], 403);
      assert.equal(denied.head['x-ext-authz-check-result'], 'denied');
      const allowed = await ask({ 'x-ext-authz': 'allow' });
      assert.equal(allowed.head[':status'], 200);
      assert.equal(JSON.parse(allowed.body).headers['x-ext-authz-check-result'], 'allowed');
    } finally {
      session.close();
    }
  });

  it('WebSocket upgrades: checked before the tunnel opens', async () => {
    const upgrade = (extra: string) =>
      new Promise<string>((resolve) => {
        const s = connect(port(), '127.0.0.1', () =>
          s.write(`GET /chat HTTP/1.1\r\nHost: backend\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`),
        );
        let got = '';
        s.on('data', (d: Buffer) => {
          got += d;
          if (got.includes('\r\n\r\n')) s.destroy();
        });
        s.on('close', () => resolve(got));
        s.on('error', () => resolve(got));
      });
    assert.match(await upgrade(''), /^HTTP\/1\.1 403 /);
    assert.match(await upgrade('x-ext-authz: allow\r\n'), /^HTTP\/1\.1 101 /);
  });

  it('fails closed when the policy names a provider the mesh config does not have', async () => {
    await c.call('POST', '/v1/apply', {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'ext-authz-missing', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'backend' } }, action: 'CUSTOM', provider: { name: 'nowhere' }, rules: [{ to: [{ operation: { paths: ['/private'] } }] }] },
    });
    await waitFor('the second CUSTOM policy', () => (backend.snapshot?.inbound.authorization.custom?.length ?? 0) === 2, 5000);
    const r = await get(port(), '/private', { host: 'backend', 'x-ext-authz': 'allow' });
    assert.equal(r.status, 403);
    assert.match(r.body, /provider "nowhere" is not in the controller's mesh config/);
  });
});
