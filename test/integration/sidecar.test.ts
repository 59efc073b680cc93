// The sidecar with real traffic: test apps, sidecars with real mTLS between them, and a real
// controller. productpage's sidecar offers an explicit local listener for `reviews` (the rootless
// mode); reviews v1 and v2 each have their own sidecar.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { connect, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Sidecar, type SidecarOptions } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { testIssuer } from '../helpers/jwt.js';

const silent = pino({ level: process.env.MESH_TEST_LOG ?? 'silent' });

// Every behaviour holds on both HTTP paths: the HTTP/1.1 byte relay (the default) and Node's
// HTTP server and client (--no-http1-relay, and where the relay hands a connection over).
for (const relay of [true, false])
  describe(`sidecar data path (${relay ? 'HTTP/1.1 relay' : "Node's HTTP path"})`, () => {
    let c: TestController;
    const apps: Record<string, TestApp> = {};
    const sidecars: Record<string, Sidecar> = {};
    const dataDirs: Record<string, string> = {};
    let tcpEcho: NetServer | undefined;

    /** Options of a test sidecar: every port chosen by the system, short intervals. */
    function options(service: string, id: string, appPort: number, token: string, upstreams: { port: number; service: string }[], extra: Partial<SidecarOptions> = {}): SidecarOptions {
      dataDirs[id] ??= mkdtempSync(join(tmpdir(), `mesh-sc-${id}-`));
      return {
        controller: c.url,
        controllerCa: c.ca(),
        bootstrapToken: token,
        service,
        namespace: 'default',
        proxyId: id,
        trustDomain: 'cluster.local',
        dataDir: dataDirs[id],
        appHost: '127.0.0.1',
        appPort,
        bindHost: '127.0.0.1',
        inboundPort: 0,
        outboundPort: upstreams.length > 0 ? 0 : -1,
        adminPort: 0,
        upstreams,
        drainTimeoutMs: 1000,
        telemetryIntervalMs: 200,
        headersTimeoutMs: 10_000,
        idleTimeoutMs: 60_000,
        accessLog: () => undefined,
        http1Relay: relay,
        outboundTrafficPolicy: 'REGISTRY_ONLY',
        ...extra,
      };
    }

    async function sidecar(service: string, id: string, appPort: number, upstreams: { port: number; service: string }[] = []): Promise<Sidecar> {
      const token = (await c.call('POST', '/v1/tokens', { service })).json().token;
      const s = new Sidecar(options(service, id, appPort, token, upstreams), silent);
      await s.start();
      sidecars[id] = s;
      return s;
    }

    const productpage = () => sidecars['productpage-1'].ports.upstreams.reviews;
    const reviewsEndpoints = () => sidecars['productpage-1'].snapshot?.outbound.services.find((s) => s.name === 'reviews')?.clusters[0].endpoints.length ?? 0;

    before(async () => {
      c = await startController();
      apps.v1 = await startApp('reviews-v1', (path, n) => (path.startsWith('/flaky') && n === 1 ? 503 : 200));
      apps.v2 = await startApp('reviews-v2');
      apps.pp = await startApp('productpage');
      for (const [id, version, app] of [
        ['reviews-v1', 'v1', apps.v1],
        ['reviews-v2', 'v2', apps.v2],
      ] as const) {
        const s = await sidecar('reviews', id, app.port);
        await c.call('POST', '/v1/catalog/instances', {
          id,
          service: 'reviews',
          address: '127.0.0.1',
          port: app.port,
          protocol: 'http',
          labels: { version },
          sidecar: { inboundPort: s.ports.inbound },
        });
      }
      // A TCP service (a database, say): an echo server behind its own sidecar.
      const echo = createNetServer((sock) => sock.pipe(sock));
      await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
      tcpEcho = echo;
      const echoPort = (echo.address() as { port: number }).port;
      const db = await sidecar('db', 'db-1', echoPort);
      await c.call('POST', '/v1/catalog/instances', {
        id: 'db-1',
        service: 'db',
        address: '127.0.0.1',
        port: echoPort,
        protocol: 'tcp',
        labels: { version: 'v1' },
        sidecar: { inboundPort: db.ports.inbound },
      });
      await sidecar('productpage', 'productpage-1', apps.pp.port, [
        { port: 0, service: 'reviews' },
        { port: 0, service: 'db' },
      ]);
      await waitFor('productpage to learn both reviews endpoints', () => reviewsEndpoints() === 2, 5000);
    });

    after(async () => {
      for (const s of Object.values(sidecars)) await s.close();
      for (const a of Object.values(apps)) await a.close();
      tcpEcho?.close();
      await c?.close();
    });

    it('carries a call from an app that knows nothing of the mesh over mTLS to the other sidecar', async () => {
      const r = await get(productpage(), '/reviews/1');
      assert.equal(r.status, 200);
      const seen = r.json();
      assert.match(seen.app, /^reviews-v[12]$/);
      assert.equal(seen.xfcc.split(';URI=')[1], 'spiffe://cluster.local/ns/default/sa/productpage', 'the server sidecar verified the caller certificate');
      assert.ok(seen.requestId, 'x-request-id is generated when missing');
    });

    it('routes captured traffic by its Host header, whichever name of the service the app used', async () => {
      const port = sidecars['productpage-1'].ports.outbound;
      for (const host of ['reviews', 'reviews:9080', 'reviews.service.consul', 'reviews.default.svc.cluster.local:9080']) {
        const r = await get(port, '/reviews/1', { host });
        assert.equal(r.status, 200, host);
        assert.match(r.json().app, /^reviews-v[12]$/);
      }
      const unknown = await get(port, '/', { host: 'nowhere.example.com' });
      assert.equal(unknown.status, 404, 'REGISTRY_ONLY');
      assert.equal(unknown.headers['x-mesh-response-flags'], 'NR');
    });

    it('passes captured HTTP to a host outside the mesh through under ALLOW_ANY, never to itself', async () => {
      const token = (await c.call('POST', '/v1/tokens', { service: 'open' })).json().token;
      const open = new Sidecar(options('open', 'open-1', apps.pp.port, token, [], { outboundPort: 0, outboundTrafficPolicy: 'ALLOW_ANY' }), silent);
      await open.start();
      sidecars['open-1'] = open;
      await waitFor('a snapshot at the open sidecar', () => open.snapshot !== undefined, 5000);
      // A server outside the mesh (loopback here, as a VM's app would reach any address).
      const outside = await get(open.ports.outbound, '/outside/path?q=1', { host: `127.0.0.1:${apps.pp.port}`, 'x-trace-me': 'yes' });
      assert.equal(outside.status, 200);
      assert.equal(outside.json().app, 'productpage');
      assert.equal(outside.json().path, '/outside/path?q=1');
      assert.equal(outside.json().xfcc, null, 'no mesh identity is claimed outside the mesh');
      assert.match(open.metricsText(), /istio_requests_total\{reporter="source",source_workload="open",[^}]*destination_service_name="PassthroughCluster"[^}]*response_code="200"/);
      const loop = await get(open.ports.outbound, '/', { host: `127.0.0.1:${open.ports.outbound}` });
      assert.equal(loop.status, 404, 'the sidecar never passes a request to its own listeners');
      assert.equal((await get(open.ports.outbound, '/reviews/1', { host: 'reviews' })).status, 200, 'mesh services are still routed');
      // A mesh service whose last instance left is not passed through (in plaintext, outside the
      // mesh): it answers 503 UH. (Named `localhost` so that a wrong passthrough stays on loopback.)
      await c.call('POST', '/v1/catalog/instances', { id: 'lh-1', service: 'localhost', address: '127.0.0.1', port: apps.pp.port, protocol: 'http' });
      await waitFor('the service at the open sidecar', () => open.snapshot?.outbound.services.some((x) => x.name === 'localhost'), 5000);
      await c.call('DELETE', '/v1/catalog/instances/lh-1');
      await waitFor('the service to leave the snapshot', () => !open.snapshot?.outbound.services.some((x) => x.name === 'localhost'), 5000);
      const vanished = await get(open.ports.outbound, '/', { host: 'localhost' });
      assert.equal(vanished.status, 503);
      assert.equal(vanished.headers['x-mesh-response-flags'], 'UH');
    });

    it('carries a WebSocket upgrade through both sidecars over mTLS, and echoes both ways', async () => {
      const socket = connect(productpage(), '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      socket.write('GET /chat HTTP/1.1\r\nHost: reviews\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      let seen = '';
      socket.on('data', (d) => (seen += d.toString()));
      await waitFor('the 101 answer', () => seen.includes('\r\n\r\n'), 3000);
      assert.match(seen, /^HTTP\/1\.1 101 Switching Protocols/);
      assert.match(seen, /x-caller: By=spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews;URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/productpage/i);
      seen = '';
      socket.write('ping-1');
      await waitFor('the echo', () => seen === 'ping-1', 3000);
      socket.destroy();
      // The server sidecar records the upgrade like any request (it used to record none).
      const inbound = Object.values(sidecars)
        .filter((s) => s.options.service === 'reviews')
        .map((s) => s.metricsText())
        .join('\n');
      assert.match(inbound, /istio_requests_total\{reporter="destination",source_workload="productpage",[^}]*response_code="101"[^}]*connection_security_policy="mutual_tls"\} 1/);
    });

    it('carries raw TCP over mTLS to a TCP service, and authorizes it by peer identity', async () => {
      await waitFor('db in the productpage snapshot', () => sidecars['productpage-1'].snapshot?.outbound.services.find((s) => s.name === 'db')?.clusters[0].endpoints.length === 1, 3000);
      const talk = (text: string) =>
        new Promise<string>((resolve) => {
          const s = connect(sidecars['productpage-1'].ports.upstreams.db, '127.0.0.1', () => s.write(text));
          let got = '';
          s.on('data', (d) => {
            got += d.toString();
            if (got.length >= text.length) s.end();
          });
          s.on('close', () => resolve(got));
          s.on('error', () => resolve(got));
        });
      assert.equal(await talk('hello over tcp'), 'hello over tcp');
      const metrics = await (await fetch(`http://127.0.0.1:${sidecars['db-1'].ports.admin}/stats/prometheus`)).text();
      assert.match(metrics, /istio_tcp_connections_opened_total\{reporter="destination",source_workload="productpage",[^}]*connection_security_policy="mutual_tls"[^}]*\} 1/);
      assert.match(metrics, /istio_tcp_received_bytes_total\{reporter="destination",[^}]*\} 14/);
      await c.call(
        'POST',
        '/v1/apply',
        'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: db-deny}\nspec:\n  selector: {matchLabels: {app: db}}\n  action: DENY\n  rules:\n  - from: [{source: {principals: ["cluster.local/ns/default/sa/productpage"]}}]\n',
      );
      await waitFor('the deny at db', () => (sidecars['db-1'].snapshot?.inbound.authorization.deny.length ?? 0) === 1, 3000);
      assert.equal(await talk('refused'), '', 'the connection is closed before any byte reaches the database');
      await c.call('DELETE', '/v1/resources/ap/default/db-deny');
    });

    it('splits traffic 90/10 by a VirtualService, and routes by header', async () => {
      const applied = await c.call(
        'POST',
        '/v1/apply',
        `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 90}
    - {destination: {host: reviews, subset: v2}, weight: 10}
`,
      );
      assert.equal(applied.status, 200, applied.text);
      await waitFor('the route to reach the sidecar', () => sidecars['productpage-1'].snapshot?.outbound.services.find((s) => s.name === 'reviews')?.httpRoutes.length === 2, 3000);
      const counts: Record<string, number> = { 'reviews-v1': 0, 'reviews-v2': 0 };
      for (let i = 0; i < 200; i++) counts[(await get(productpage(), '/reviews/1')).json().app]++;
      assert.ok(counts['reviews-v1'] >= 160 && counts['reviews-v1'] <= 198, `v1 got ${counts['reviews-v1']} of 200`);
      assert.ok(counts['reviews-v2'] >= 2, `v2 got ${counts['reviews-v2']} of 200`);
      for (let i = 0; i < 10; i++) assert.equal((await get(productpage(), '/reviews/1', { 'end-user': 'jason' })).json().app, 'reviews-v2');
    });

    it('retries a 5xx answer when the route says so', async () => {
      await c.call(
        'POST',
        '/v1/apply',
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v1}}]
    retries: {attempts: 2, retryOn: 5xx}
`,
      );
      await waitFor('the retry route', () => sidecars['productpage-1'].snapshot?.outbound.services.find((s) => s.name === 'reviews')?.httpRoutes[0].retries?.retryOn.includes('5xx'), 3000);
      const before = apps.v1.hits;
      const r = await get(productpage(), '/flaky');
      assert.equal(r.status, 200);
      assert.equal(apps.v1.hits - before, 2, 'the first answer was 503, the retry succeeded');
    });

    it('answers with fault injection and direct responses from the route', async () => {
      await c.call(
        'POST',
        '/v1/apply',
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {exact: /static}}]
    directResponse: {status: 204}
  - route: [{destination: {host: reviews, subset: v1}}]
`,
      );
      await waitFor('the fault route', () => sidecars['productpage-1'].snapshot?.outbound.services.find((s) => s.name === 'reviews')?.httpRoutes.length === 3, 3000);
      const hits = apps.v1.hits;
      assert.equal((await get(productpage(), '/abort/x')).status, 418);
      assert.equal((await get(productpage(), '/static')).status, 204);
      assert.equal(apps.v1.hits, hits, 'neither reached the application');
    });

    it('enforces AuthorizationPolicy on the normalised path, so encoded dot segments do not bypass it', async () => {
      await c.call(
        'POST',
        '/v1/apply',
        `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin}
spec:
  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin", "/admin/*"]}}]
`,
      );
      await waitFor('the policy at the reviews sidecars', () => (sidecars['reviews-v1'].snapshot?.inbound.authorization.deny.length ?? 0) === 1, 3000);
      const hits = apps.v1.hits;
      assert.equal((await get(productpage(), '/admin')).status, 403);
      assert.equal((await get(productpage(), '/public/%2e%2e/admin')).status, 403);
      assert.equal((await get(productpage(), '//admin/users')).status, 403);
      assert.equal((await get(productpage(), '/public%2F..%2Fadmin')).status, 400);
      // A peer with a valid mesh certificate that asks for raw TCP (ALPN mesh-tcp) on this port,
      // declared HTTP, is still read as HTTP: the request-level DENY applies.
      const id = sidecars['productpage-1'].identity!;
      const raw = tlsConnect({
        host: '127.0.0.1',
        port: sidecars['reviews-v1'].ports.inbound,
        cert: id.certPem,
        key: id.keyPem,
        ca: id.trustBundle,
        ALPNProtocols: ['mesh-tcp'],
        checkServerIdentity: () => undefined,
      });
      const answer = await new Promise<string>((resolve) => {
        let got = '';
        raw.on('secureConnect', () => raw.write('GET /admin HTTP/1.1\r\nhost: reviews\r\nconnection: close\r\n\r\n'));
        raw.on('data', (d: Buffer) => (got += d));
        raw.on('close', () => resolve(got));
        raw.on('error', () => resolve(got));
      });
      assert.match(answer, /^HTTP\/1\.1 403 /);
      assert.equal(apps.v1.hits, hits, 'nothing reached the application');
      const ok = await get(productpage(), '/public/../reviews');
      assert.equal(ok.status, 200);
      assert.equal(ok.json().path, '/reviews', 'the application sees the normalised path that was authorized');
    });

    it('checks JWTs per RequestAuthentication and lets AuthorizationPolicy require them', async () => {
      const issuer = testIssuer('ES256');
      const yaml = `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt}
spec:
  selector: {matchLabels: {app: reviews}}
  jwtRules:
  - issuer: https://issuer.test
    audiences: [bookinfo]
    jwks: '${issuer.jwks}'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: secure-needs-jwt}
spec:
  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/secure/*"]}}]
    from: [{source: {notRequestPrincipals: ["*"]}}]
`;
      assert.equal((await c.call('POST', '/v1/apply', yaml)).status, 200);
      // Both resources at both sidecars: one apply may reach a sidecar as two snapshots (the
      // JWT rule in the first, the policy in the next), and then a request could fall in between.
      const holds = (id: string) =>
        (sidecars[id].snapshot?.inbound.jwtRules.length ?? 0) === 1 && (sidecars[id].snapshot?.inbound.authorization.deny.some((p) => p.name === 'default/secure-needs-jwt') ?? false);
      await waitFor('the JWT rule and the policy at reviews-v1 and v2', () => holds('reviews-v1') && holds('reviews-v2'), 3000);
      const now = Math.floor(Date.now() / 1000);
      const good = issuer.token({ iss: 'https://issuer.test', sub: 'alice', aud: 'bookinfo', exp: now + 600 });
      assert.equal((await get(productpage(), '/open')).status, 200, 'no token: passes where no policy asks for one');
      assert.equal((await get(productpage(), '/secure/data')).status, 403, 'no token: refused where the policy asks for one');
      const ok = await get(productpage(), '/secure/data', { authorization: `Bearer ${good}` });
      assert.equal(ok.status, 200);
      assert.equal(ok.json().headers.authorization, undefined, 'the token is not forwarded (forwardOriginalToken: false)');
      assert.equal((await get(productpage(), '/open', { authorization: `Bearer ${good.slice(0, -4)}AAAA` })).status, 401, 'a bad signature is refused even where no policy asks');
      const expired = issuer.token({ iss: 'https://issuer.test', sub: 'alice', aud: 'bookinfo', exp: now - 3600 });
      const r = await get(productpage(), '/secure/data', { authorization: `Bearer ${expired}` });
      assert.equal(r.status, 401);
      assert.match(r.body, /Jwt is expired/);
      await c.call('DELETE', '/v1/resources/ra/default/jwt');
      await c.call('DELETE', '/v1/resources/ap/default/secure-needs-jwt');
    });

    it('answers overflow at once with 503 UO when connection-pool limits are reached, and times out slow upstreams', async () => {
      await c.call(
        'POST',
        '/v1/apply',
        `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /slow/timeout}}]
    timeout: 100ms
    route: [{destination: {host: reviews, subset: v1}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`,
      );
      await waitFor(
        'the pool limits at productpage',
        () =>
          sidecars['productpage-1'].snapshot?.outbound.services.find((s) => s.name === 'reviews')?.clusters.find((x) => x.subset === 'v1')?.connectionPool.maxConnections === 1 &&
          sidecars['productpage-1'].snapshot?.outbound.services.find((s) => s.name === 'reviews')?.httpRoutes.length === 2,
        3000,
      );
      const started = Date.now();
      const results = await Promise.all([1, 2, 3, 4].map((i) => get(productpage(), `/slow/${i}`)));
      const overflow = results.filter((r) => r.status === 503 && r.headers['x-mesh-response-flags'] === 'UO');
      assert.equal(results.filter((r) => r.status === 200).length, 2, 'one connection plus one pending request are admitted');
      assert.equal(overflow.length, 2);
      assert.ok(Date.now() - started < 2000);
      const timedOut = await get(productpage(), '/slow/timeout');
      assert.equal(timedOut.status, 504);
      assert.equal(timedOut.headers['x-mesh-response-flags'], 'UT');
      await c.call('DELETE', '/v1/resources/vs/default/reviews');
      await c.call(
        'POST',
        '/v1/apply',
        'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec:\n  host: reviews\n  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n',
      );
    });

    it('refuses plaintext under STRICT mTLS and accepts it under PERMISSIVE', async () => {
      const inbound = sidecars['reviews-v1'].ports.inbound;
      assert.equal((await get(inbound, '/plain')).status, 200, 'PERMISSIVE by default');
      await c.call('POST', '/v1/apply', 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n');
      await waitFor('STRICT at reviews-v1', () => sidecars['reviews-v1'].snapshot?.inbound.ports[0].mtlsMode === 'STRICT', 3000);
      const hits = apps.v1.hits;
      await assert.rejects(get(inbound, '/plain'), /socket hang up|ECONNRESET/);
      assert.equal(apps.v1.hits, hits);
      assert.equal((await get(productpage(), '/reviews/1')).status, 200, 'mesh traffic still flows');
    });

    it('answers 503 at once for an upstream that does not listen', async () => {
      await c.call(
        'POST',
        '/v1/apply',
        'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - route: [{destination: {host: ratings}}]\n    retries: {attempts: 0}\n',
      );
      await c.call('POST', '/v1/catalog/instances', { id: 'ratings-dead', service: 'ratings', address: '127.0.0.1', port: 1, labels: {} });
      await waitFor('ratings in the snapshot', () => sidecars['productpage-1'].snapshot?.outbound.services.some((s) => s.name === 'ratings' && s.clusters[0].endpoints.length === 1), 3000);
      const r = await get(productpage(), '/x');
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-mesh-response-flags'], 'UF');
    });

    it('reports Istio standard metrics on the admin port', async () => {
      const res = await fetch(`http://127.0.0.1:${sidecars['productpage-1'].ports.admin}/stats/prometheus`);
      const text = await res.text();
      assert.match(
        text,
        /istio_requests_total\{reporter="source",source_workload="productpage",source_workload_namespace="default",source_principal="spiffe:\/\/cluster\.local\/ns\/default\/sa\/productpage",source_app="productpage",[^}]*destination_workload="reviews-v1",destination_workload_namespace="default",destination_principal="spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews",destination_app="reviews",destination_version="v1",destination_service="reviews\.default\.svc\.cluster\.local",destination_service_name="reviews",destination_service_namespace="default",[^}]*response_code="200"[^}]*connection_security_policy="unknown"\} \d+/,
        "Istio's standard labels, the destination as a workload (reviews-v1), not the service",
      );
      assert.match(text, /istio_request_duration_milliseconds_bucket\{/);
      const upstreams = Number(/^mesh_proxy_upstream_connections (\d+)$/m.exec(text)?.[1] ?? -1);
      assert.ok(upstreams >= 1, `kept-alive connections to the reviews sidecars are reported (${upstreams})`);
      assert.match(text, /^mesh_proxy_certificate_expiry_seconds \d+/m);
      // The routes applied since it started came as deltas against what it held, and applied.
      const deltas = Number(/^mesh_proxy_config_received_total\{kind="delta"\} (\d+)$/m.exec(text)?.[1] ?? 0);
      assert.ok(deltas >= 1, `snapshots received as deltas: ${deltas}`);
      assert.match(text, /^mesh_proxy_config_received_total\{kind="full"\} 1$/m, 'one whole snapshot, the first');
      assert.doesNotMatch(text, /^mesh_proxy_config_rejected_total [1-9]/m);
      const inbound = await (await fetch(`http://127.0.0.1:${sidecars['reviews-v1'].ports.admin}/stats/prometheus`)).text();
      assert.match(inbound, /istio_requests_total\{reporter="destination",source_workload="productpage",[^}]*response_code="403"[^}]*\}/);
      // The destination knows its caller as the caller knows itself (metadata exchange), and the app never sees the header.
      assert.match(
        inbound,
        /istio_requests_total\{reporter="destination",source_workload="productpage",source_workload_namespace="default",[^}]*source_app="productpage",[^}]*destination_workload="reviews-v1",[^}]*response_code="200"/,
      );
      const ready = await fetch(`http://127.0.0.1:${sidecars['productpage-1'].ports.admin}/ready`);
      assert.equal(ready.status, 200);
    });

    it('sends request summaries to the controller, which shows the edge mesh-wide', async () => {
      const edge = await waitFor(
        'the productpage -> reviews edge at the controller',
        async () => {
          const edges = (await c.call('GET', '/v1/telemetry/edges')).json().edges as { source: string; destination: string; requests: number; errorRate: number; p50Ms: number }[];
          return edges.find((e) => e.source === 'default/productpage' && e.destination === 'default/reviews' && e.requests >= 200 && e.errorRate > 0);
        },
        3000,
      );
      assert.ok(edge.p50Ms !== null && edge.p50Ms > 0);
      assert.ok(edge.errorRate < 0.05, `error rate ${edge.errorRate}: one 503 among more than 200 requests`);
    });

    it('rejects malformed requests before forwarding anything', async () => {
      const raw = (text: string) =>
        new Promise<string>((resolve) => {
          const s = connect(productpage(), '127.0.0.1', () => s.end(text));
          let out = '';
          s.on('data', (d) => (out += d.toString()));
          s.on('close', () => resolve(out));
          s.on('error', () => resolve(out));
        });
      const hits = apps.v1.hits + apps.v2.hits;
      assert.match(await raw('POST / HTTP/1.1\r\nHost: reviews\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), /^HTTP\/1\.1 400/);
      assert.match(await raw('GET / HTTP/1.1\r\nHost: reviews\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'), /^HTTP\/1\.1 400/);
      assert.match(await raw('GET / HTTP/1.1\r\nHost : reviews\r\n\r\n'), /^HTTP\/1\.1 400/);
      assert.match(await raw('GET / HTTP/1.1\r\nHost: reviews\r\nX-A: 1\r\n folded\r\n\r\n'), /^HTTP\/1\.1 400/);
      assert.match(await raw(`GET / HTTP/1.1\r\nHost: reviews\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`), /^HTTP\/1\.1 431/);
      assert.equal(apps.v1.hits + apps.v2.hits, hits, 'nothing was forwarded');
    });

    it('survives clients that reset their connection before sending anything, on every listener', async () => {
      const pp = sidecars['productpage-1'];
      for (const port of [productpage(), pp.ports.outbound, sidecars['reviews-v1'].ports.inbound]) {
        await new Promise<void>((resolve) => {
          const s = connect(port, '127.0.0.1', () =>
            setTimeout(() => {
              s.resetAndDestroy();
              resolve();
            }, 20),
          );
          s.on('error', () => resolve());
        });
      }
      await new Promise((r) => setTimeout(r, 100));
      for (const s of [pp, sidecars['reviews-v1']]) assert.equal((await fetch(`http://127.0.0.1:${s.ports.admin}/ready`)).status, 200, 'the sidecars still serve');
    });

    it('closes connections of clients that send their head too slowly, stall mid-body, or sit idle', async () => {
      const token = (await c.call('POST', '/v1/tokens', { service: 'slowpoke' })).json().token;
      const strict = new Sidecar(
        options('slowpoke', 'slowpoke-1', apps.pp.port, token, [{ port: 0, service: 'reviews' }], { outboundPort: -1, telemetryIntervalMs: 60_000, headersTimeoutMs: 300, idleTimeoutMs: 2000 }),
        silent,
      );
      await strict.start();
      sidecars['slowpoke-1'] = strict;
      const port = strict.ports.upstreams.reviews;
      const closedAfter = (first: string) =>
        new Promise<{ ms: number; reply: string }>((resolve) => {
          const started = Date.now();
          let reply = '';
          const s = connect(port, '127.0.0.1', () => s.write(first));
          s.on('data', (d) => (reply += d.toString()));
          s.on('close', () => resolve({ ms: Date.now() - started, reply }));
          s.on('error', () => undefined);
        });
      const hits = apps.v1.hits + apps.v2.hits;
      const slowHead = await closedAfter('GET /reviews/1 HTTP/1.1\r\nHost: rev');
      assert.ok(slowHead.ms < 1500, `slow head closed after ${slowHead.ms} ms, by the head deadline, before the idle timeout`);
      assert.match(slowHead.reply, /^HTTP\/1\.1 408 Request Timeout/);
      const stalledBody = await closedAfter('POST /reviews/1 HTTP/1.1\r\nHost: reviews\r\nContent-Length: 100\r\n\r\nonly a part');
      assert.ok(stalledBody.ms < 5000, `stalled body closed after ${stalledBody.ms} ms`);
      const idle = await closedAfter('');
      assert.ok(idle.ms < 5000, `idle connection closed after ${idle.ms} ms`);
      assert.equal(apps.v1.hits + apps.v2.hits, hits, 'nothing incomplete reached an application');
    });

    it('keeps serving from its last snapshot and certificate when the controller goes away, also after a restart', async () => {
      await c.call(
        'POST',
        '/v1/apply',
        'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - route: [{destination: {host: reviews, subset: v1}}]\n',
      );
      await waitFor(
        'the v1 route',
        () =>
          sidecars['productpage-1'].snapshot?.outbound.services.find((s) => s.name === 'reviews')?.httpRoutes[0].action.type === 'route' &&
          (sidecars['productpage-1'].snapshot?.outbound.services.find((s) => s.name === 'reviews')?.httpRoutes[0].action as { destinations: { cluster: string }[] }).destinations[0].cluster.includes(
            '|v1|',
          ),
        3000,
      );
      await new Promise((r) => setTimeout(r, 300)); // let the sidecar write the snapshot to disk
      const token = (await c.call('POST', '/v1/tokens', { service: 'productpage' })).json().token;
      await c.close();
      const r = await get(productpage(), '/reviews/1');
      assert.equal(r.status, 200);
      assert.equal(r.json().app, 'reviews-v1');
      assert.equal(sidecars['productpage-1'].readiness().ready, true);

      // A sidecar restarted while the controller is away starts from what it kept on disk.
      await sidecars['productpage-1'].close();
      const again = new Sidecar(options('productpage', 'productpage-1', apps.pp.port, token, [{ port: 0, service: 'reviews' }], { outboundPort: -1 }), silent);
      sidecars['productpage-1'] = again;
      await again.start();
      assert.equal(again.readiness().controllerConnected, false);
      const r2 = await get(again.ports.upstreams.reviews, '/reviews/2');
      assert.equal(r2.status, 200);
      assert.equal(r2.json().app, 'reviews-v1');
      assert.equal(r2.json().xfcc.split(';URI=')[1], 'spiffe://cluster.local/ns/default/sa/productpage', 'mTLS with the stored certificate');
    });
  });
