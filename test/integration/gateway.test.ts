// An ingress gateway with Istio's own gateway samples, applied unchanged (meshctl apply -f on the
// files of test/fixtures/istio-samples/gateways): real sockets from a client outside the mesh to
// the gateway's listeners, then over mTLS to the workloads' sidecars. The gateway binds a loopback
// address of its own (127.77.0.1), so the samples' ports (80, 8080, 31400) are free for it.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect, createServer, type Server } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { waitFor } from '../helpers/ports.js';
import { startSidecar } from '../helpers/sidecar.js';
import { opensslCa, type OpensslCa } from '../helpers/openssl-ca.js';
import { runMeshctl } from '../helpers/meshctl.js';

const root = new URL('../../../', import.meta.url).pathname;
const SAMPLES = join(root, 'test/fixtures/istio-samples/gateways');
const GATEWAY_HOST = '127.77.0.1';
const notRoot = process.getuid?.() !== 0 ? 'the samples name port 80, which needs root' : undefined;

/** A client outside the mesh: plain HTTP to the gateway's address. */
function fetchVia(port: number, path: string, host = 'bookinfo.example.com'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: GATEWAY_HOST, port, path, headers: { host }, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`no answer from the gateway on port ${port} in 10 s`)));
    req.end();
  });
}

/** A client outside the mesh over HTTPS: the SNI and Host it names, the CA it trusts, its certificate if any. */
function fetchTls(
  port: number,
  path: string,
  o: { host: string; ca: string; cert?: string; key?: string; address?: string; /** a mesh certificate names a SPIFFE ID, no host */ spiffe?: boolean },
): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    const check = o.spiffe ? { checkServerIdentity: () => undefined } : {};
    const req = httpsRequest(
      { host: o.address ?? GATEWAY_HOST, port, path, servername: o.host, headers: { host: o.host }, ca: o.ca, cert: o.cert, key: o.key, agent: false, timeout: 10_000, ...check },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ...(res.headers.location ? { location: res.headers.location } : {}) }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`no TLS answer from port ${port} in 10 s`)));
    req.end();
  });
}

/** One TCP exchange through the gateway: what the echo server sends back for `line`. */
function tcpEcho(port: number, line: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, GATEWAY_HOST, () => socket.write(`${line}\n`));
    socket.setTimeout(10_000, () => socket.destroy());
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.endsWith('\n')) socket.end();
    });
    socket.on('error', () => resolve(''));
    socket.on('close', () => resolve(text.trim()));
  });
}

/** One GET over an HTTP/2 session to the gateway: its status and body. */
function h2Get(session: ClientHttp2Session, path: string, authority: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = session.request({ ':method': 'GET', ':path': path, ':authority': authority });
    let status = 0;
    let body = '';
    r.on('response', (h) => (status = Number(h[':status'])));
    r.on('data', (d: Buffer) => (body += d.toString()));
    r.on('end', () => resolve({ status, body }));
    r.on('error', reject);
  });
}

describe("an ingress gateway, with Istio's gateway samples applied unchanged", { skip: notRoot, timeout: 300_000 }, () => {
  let c: TestController;
  let gateway: Sidecar;
  const apps: TestApp[] = [];
  const servers: Server[] = [];
  const sidecars: Sidecar[] = [];

  const meshctlRun = (args: string[], stdin?: string) => runMeshctl(c.dataDir, args, stdin);
  const apply = async (file: string) => {
    const r = await meshctlRun(['apply', '-f', join(SAMPLES, file)]);
    assert.equal(r.code, 0, r.err);
  };
  const applyText = async (yaml: string) => {
    const r = await meshctlRun(['apply', '-f', '-'], yaml);
    assert.equal(r.code, 0, r.err);
  };

  async function register(id: string, service: string, port: number, sidecar: Sidecar, protocol: string, version = 'v1') {
    const r = await c.call('POST', '/v1/catalog/instances', {
      id,
      service,
      namespace: 'default',
      address: '127.0.0.1',
      port,
      protocol,
      labels: { version },
      sidecar: { inboundPort: sidecar.ports.inbound },
    });
    assert.ok(r.status < 300, r.text);
  }

  async function httpWorkload(service: string) {
    const app = await startApp(service);
    apps.push(app);
    const sidecar = await startSidecar(c, service, app.port, { proxyId: `${service}-1` });
    sidecars.push(sidecar);
    await register(`${service}-1`, service, app.port, sidecar, 'http');
    return { app, sidecar };
  }

  async function tcpEchoWorkload(version: string) {
    const server = createServer((s) => {
      s.on('data', (d: Buffer) => s.write(`${version} ${d.toString()}`));
      s.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    const port = (server.address() as { port: number }).port;
    const sidecar = await startSidecar(c, 'tcp-echo', port, { proxyId: `tcp-echo-${version}` });
    sidecars.push(sidecar);
    await register(`tcp-echo-${version}`, 'tcp-echo', port, sidecar, 'tcp', version);
  }

  before(async () => {
    c = await startController();
    await httpWorkload('productpage');
    await httpWorkload('httpbin');
    await httpWorkload('helloworld');
    await tcpEchoWorkload('v1');
    await tcpEchoWorkload('v2');
    // Istio's ingress gateway: its own identity and the label the samples select.
    gateway = await startSidecar(c, 'istio-ingressgateway', 0, {
      proxyId: 'istio-ingressgateway-1',
      namespace: 'istio-system',
      gateway: true,
      labels: { istio: 'ingressgateway' },
      bindHost: GATEWAY_HOST,
      telemetryIntervalMs: 200,
    });
    sidecars.push(gateway);
  });

  after(async () => {
    for (const s of sidecars) await s.close();
    for (const a of apps) await a.close();
    for (const s of servers) s.close();
    await c?.close();
  });

  it('bookinfo-gateway.yaml: /productpage enters on port 8080 and reaches productpage over mTLS with the gateway identity; other paths get 404', async () => {
    await apply('bookinfo-gateway.yaml');
    await waitFor('the gateway listener on 8080', () => gateway.gatewayPorts.includes(8080), 5000);
    const r = await waitFor('productpage through the gateway', async () => {
      const x = await fetchVia(8080, '/productpage');
      return x.status === 200 && x;
    });
    const seen = JSON.parse(r.body) as { app: string; path: string; xfcc: string };
    assert.equal(seen.app, 'productpage');
    assert.equal(seen.path, '/productpage');
    assert.equal(seen.xfcc, 'By=spiffe://cluster.local/ns/default/sa/productpage;URI=spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway');
    assert.equal((await fetchVia(8080, '/api/v1/products/1')).status, 200);
    assert.equal((await fetchVia(8080, '/admin')).status, 404, 'no route of the bound VirtualService matches');
  });

  it('bookinfo-gateway.yaml carries HTTP/2 clients (h2c) too: the same routes, over the frame relay', async () => {
    const session = h2connect(`http://${GATEWAY_HOST}:8080`);
    session.on('error', () => undefined);
    try {
      const [page, product, admin] = await Promise.all(['/productpage', '/api/v1/products/1', '/admin'].map((path) => h2Get(session, path, 'bookinfo.example.com')));
      assert.equal(page.status, 200);
      const seen = JSON.parse(page.body) as { app: string; path: string; xfcc: string };
      assert.equal(seen.app, 'productpage');
      assert.equal(seen.path, '/productpage');
      assert.equal(seen.xfcc, 'By=spiffe://cluster.local/ns/default/sa/productpage;URI=spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway');
      assert.equal(product.status, 200);
      assert.equal(admin.status, 404, 'no route of the bound VirtualService matches');
    } finally {
      session.close();
    }
  });

  it('keeps working with every workload STRICT, while plaintext to a workload is refused', async () => {
    await applyText('apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n');
    const pp = sidecars.find((s) => s.options.service === 'productpage')!;
    await waitFor('STRICT at productpage', () => pp.snapshot?.inbound.ports.every((p) => p.mtlsMode === 'STRICT'));
    assert.equal((await fetchVia(8080, '/productpage')).status, 200);
    const plain = await get(pp.ports.inbound, '/productpage', { host: 'productpage' }).then(
      (x) => x.status,
      () => 0,
    );
    assert.notEqual(plain, 200);
  });

  it('denied traffic is denied: an AuthorizationPolicy at productpage naming the gateway identity answers 403 through the gateway', async () => {
    await applyText(
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: no-gateway-admin, namespace: default}\nspec:\n  selector: {matchLabels: {app: productpage}}\n  action: DENY\n  rules:\n  - from: [{source: {principals: [cluster.local/ns/istio-system/sa/istio-ingressgateway]}}]\n    to: [{operation: {paths: [/api/v1/products/*]}}]\n',
    );
    await waitFor('the DENY at productpage', async () => (await fetchVia(8080, '/api/v1/products/7')).status === 403);
    assert.equal((await fetchVia(8080, '/productpage')).status, 200);
  });

  it('httpbin-gateway.yaml and helloworld-gateway.yaml share port 80: each VirtualService takes its own paths', async () => {
    await apply('httpbin-gateway.yaml');
    await apply('helloworld-gateway.yaml');
    await waitFor('the gateway listener on 80', () => gateway.gatewayPorts.includes(80), 5000);
    // Until the second VirtualService reaches the gateway, httpbin's catch-all answers /hello too.
    await waitFor('helloworld through the gateway', async () => {
      const x = await fetchVia(80, '/hello');
      return x.status === 200 && (JSON.parse(x.body) as { app: string }).app === 'helloworld';
    });
    for (let i = 0; i < 5; i++) assert.equal(JSON.parse((await fetchVia(80, '/hello')).body).app, 'helloworld');
    const other = await fetchVia(80, '/status/418');
    assert.equal(JSON.parse(other.body).app, 'httpbin', 'httpbin takes every other path');
  });

  it('tcp-echo-all-v1.yaml then tcp-echo-20-v2.yaml: TCP on port 31400 reaches v1 only, then about 20% v2', async () => {
    await apply('tcp-echo-all-v1.yaml');
    await waitFor('the gateway listener on 31400', () => gateway.gatewayPorts.includes(31400), 5000);
    await waitFor('tcp-echo through the gateway', async () => (await tcpEcho(31400, 'hello')) === 'v1 hello');
    for (let i = 0; i < 10; i++) assert.equal(await tcpEcho(31400, `n${i}`), `v1 n${i}`);
    await apply('tcp-echo-20-v2.yaml');
    await waitFor('the 80/20 split at the gateway', () => gateway.snapshot?.gateway?.listeners.find((l) => l.port === 31400)?.virtualHosts[0].tcpRoutes[0].destinations.length === 2);
    const answers = [];
    for (let i = 0; i < 100; i++) answers.push(await tcpEcho(31400, 'x'));
    const v2 = answers.filter((a) => a === 'v2 x').length;
    assert.equal(answers.filter((a) => a === 'v1 x').length + v2, 100);
    assert.ok(v2 >= 8 && v2 <= 35, `${v2} of 100 connections went to v2`);
  });

  it('reports Istio metrics as a gateway does: reporter="source", the gateway as source workload', async () => {
    const text = gateway.metricsText();
    assert.match(
      text,
      /istio_requests_total\{[^}]*reporter="source"[^}]*source_workload="istio-ingressgateway"[^}]*destination_service="productpage\.default\.svc\.cluster\.local"[^}]*response_code="200"/,
    );
    assert.match(text, /istio_tcp_connections_opened_total\{[^}]*reporter="source"[^}]*source_workload="istio-ingressgateway"[^}]*destination_service_name="tcp-echo"/);
  });

  it("appears in the controller's telemetry as the caller of the services it routes to (not of the VirtualService)", async () => {
    const edges = await waitFor('the gateway edge at the controller', async () => {
      const { edges } = (await c.call('GET', '/v1/telemetry/edges')).json<{ edges: { source: string; destination: string }[] }>();
      return edges.some((e) => e.source === 'istio-system/istio-ingressgateway' && e.destination === 'default/productpage') && edges;
    });
    assert.ok(!edges.some((e) => e.destination === 'default/bookinfo'), `no edge to the VirtualService: ${JSON.stringify(edges)}`);
  });

  describe('HTTPS servers with credentials from `meshctl secret`', () => {
    let ca: OpensslCa;
    let other: OpensslCa;
    const secureGateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-secure}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: bookinfo-credential}
    hosts: [bookinfo.example.com]
  - port: {number: 8443, name: https-mutual, protocol: HTTPS}
    tls: {mode: MUTUAL, credentialName: bookinfo-mutual}
    hosts: [bookinfo.example.com]
  - port: {number: 8081, name: http-redirect, protocol: HTTP}
    tls: {httpsRedirect: true}
    hosts: [bookinfo.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo-secure}
spec:
  hosts: [bookinfo.example.com]
  gateways: [bookinfo-secure]
  http:
  - match: [{uri: {exact: /productpage}}]
    route: [{destination: {host: productpage}}]
`;

    before(() => {
      ca = opensslCa('/CN=bookinfo CA');
      ca.issue('bookinfo', { dns: ['bookinfo.example.com'] });
      ca.issue('client', { dns: ['client.example.com'], client: true });
      other = opensslCa('/CN=another CA');
      other.issue('stranger', { dns: ['client.example.com'], client: true });
    });
    after(() => {
      ca?.remove();
      other?.remove();
    });

    it('stores a TLS credential with meshctl secret create tls, and never shows its key', async () => {
      const made = await meshctlRun(['secret', 'create', 'tls', 'bookinfo-credential', '-n', 'istio-system', '--cert', ca.path('bookinfo.pem'), '--key', ca.path('bookinfo.key')]);
      assert.equal(made.code, 0, made.err);
      assert.match(made.out, /secret\/bookinfo-credential \(istio-system\) stored: bookinfo\.example\.com, valid until/);
      const mutual = await meshctlRun([
        'secret',
        'create',
        'tls',
        'bookinfo-mutual',
        '-n',
        'istio-system',
        '--cert',
        ca.path('bookinfo.pem'),
        '--key',
        ca.path('bookinfo.key'),
        '--ca',
        ca.path('ca.pem'),
      ]);
      assert.equal(mutual.code, 0, mutual.err);
      const mismatched = await meshctlRun(['secret', 'create', 'tls', 'broken', '--cert', ca.path('bookinfo.pem'), '--key', ca.path('client.key')]);
      assert.equal(mismatched.code, 1);
      assert.match(mismatched.err, /key: does not belong to the first certificate of cert/);
      const listed = await meshctlRun(['secret', 'list', '-o', 'json']);
      assert.equal(listed.code, 0, listed.err);
      assert.doesNotMatch(listed.out, /PRIVATE KEY/);
      assert.deepEqual(
        (JSON.parse(listed.out) as { items: { name: string; hasCa: boolean }[] }).items.map((i) => [i.name, i.hasCa]),
        [
          ['bookinfo-credential', false],
          ['bookinfo-mutual', true],
        ],
      );
    });

    it("SIMPLE: the client sees the credential's certificate for its SNI, and the request reaches productpage over mTLS", async () => {
      await applyText(secureGateway);
      await waitFor('the HTTPS listener', () => gateway.gatewayPorts.includes(443), 5000);
      const r = await waitFor('productpage over HTTPS', async () => {
        const x = await fetchTls(443, '/productpage', { host: 'bookinfo.example.com', ca: ca.read('ca.pem') }).catch(() => undefined);
        return x?.status === 200 && x;
      });
      assert.equal(JSON.parse(r.body).xfcc, 'By=spiffe://cluster.local/ns/default/sa/productpage;URI=spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway');
      await assert.rejects(fetchTls(443, '/productpage', { host: 'bookinfo.example.com', ca: other.read('ca.pem') }), /certificate/i, 'a client that does not trust the CA refuses the gateway');
      assert.doesNotMatch(JSON.stringify(gateway.snapshot), /PRIVATE KEY/, 'no key in the snapshot');
    });

    it('SIMPLE carries HTTP/2 clients too (ALPN h2): the stream reaches productpage', async () => {
      const session = h2connect(`https://${GATEWAY_HOST}:443`, { servername: 'bookinfo.example.com', ca: ca.read('ca.pem') });
      session.on('error', () => undefined);
      try {
        const answer = await h2Get(session, '/productpage', 'bookinfo.example.com');
        assert.equal(session.alpnProtocol, 'h2');
        assert.equal(answer.status, 200);
        assert.equal((JSON.parse(answer.body) as { app: string }).app, 'productpage');
      } finally {
        session.close();
      }
    });

    it("MUTUAL: a client certificate from the credential's CA gets in; none, or one from another CA, does not", async () => {
      await waitFor('the mutual HTTPS listener', () => gateway.gatewayPorts.includes(8443), 5000);
      const ok = await fetchTls(8443, '/productpage', { host: 'bookinfo.example.com', ca: ca.read('ca.pem'), cert: ca.read('client.pem'), key: ca.read('client.key') });
      assert.equal(ok.status, 200);
      await assert.rejects(fetchTls(8443, '/productpage', { host: 'bookinfo.example.com', ca: ca.read('ca.pem') }));
      await assert.rejects(fetchTls(8443, '/productpage', { host: 'bookinfo.example.com', ca: ca.read('ca.pem'), cert: other.read('stranger.pem'), key: other.read('stranger.key') }));
    });

    it('httpsRedirect: plain HTTP for the host is sent to https', async () => {
      await waitFor('the redirecting listener', () => gateway.gatewayPorts.includes(8081), 5000);
      const r = await fetchVia(8081, '/productpage?x=1', 'bookinfo.example.com');
      assert.equal(r.status, 301);
      const again = await new Promise<string | undefined>((resolve, reject) => {
        request({ host: GATEWAY_HOST, port: 8081, path: '/productpage?x=1', headers: { host: 'bookinfo.example.com' }, agent: false }, (res) => {
          res.resume();
          resolve(res.headers.location);
        })
          .on('error', reject)
          .end();
      });
      assert.equal(again, 'https://bookinfo.example.com/productpage?x=1');
    });

    it("a workload of another namespace cannot read the gateway's credentials", async () => {
      const pp = sidecars.find((s) => s.options.service === 'productpage')!;
      const id = pp.identity!;
      const status = await new Promise<number>((resolve, reject) => {
        httpsRequest(`${c.url}/v1/gateway-credentials/istio-system/bookinfo-credential`, { ca: c.ca(), cert: id.certPem, key: id.keyPem, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
      assert.equal(status, 403);
    });
  });

  describe('an egress gateway: mesh traffic for an external host leaves only through it, with TLS originated there', () => {
    // The external host is a local HTTPS server (127.78.0.1:443) with a certificate from a test CA;
    // the ServiceEntry points the name there (STATIC), so no lookup or traffic leaves this machine.
    const EXTERNAL = '127.78.0.1';
    const EGRESS = '127.79.0.1';
    let ca: OpensslCa;
    let external: ReturnType<typeof createHttpsServer>;
    let egress: Sidecar;
    let sleep: Sidecar;
    const seen: { sni: string | false; path?: string }[] = [];

    before(async () => {
      ca = opensslCa('/CN=external CA');
      ca.issue('external', { dns: ['external.example.com'] });
      external = createHttpsServer({ cert: ca.read('external.pem'), key: ca.read('external.key') }, (req, res) => {
        seen.push({ sni: (req.socket as TLSSocket).servername ?? false, path: req.url });
        res.end(`external answered ${req.url}`);
      });
      await new Promise<void>((r) => external.listen(443, EXTERNAL, r));
      // Istio's egress gateway: a gateway proxy that is also a mesh service the sidecars route to.
      egress = await startSidecar(c, 'istio-egressgateway', 0, { proxyId: 'istio-egressgateway-1', namespace: 'istio-system', gateway: true, labels: { istio: 'egressgateway' }, bindHost: EGRESS });
      sidecars.push(egress);
      const reg = await c.call('POST', '/v1/catalog/instances', {
        id: 'istio-egressgateway-1',
        service: 'istio-egressgateway',
        namespace: 'istio-system',
        address: EGRESS,
        port: 80,
        protocol: 'http',
        labels: { istio: 'egressgateway' },
      });
      assert.ok(reg.status < 300, reg.text);
      // A client workload whose sidecar lets nothing out that the registry does not know.
      const app = await startApp('sleep');
      apps.push(app);
      sleep = await startSidecar(c, 'sleep', app.port, { proxyId: 'sleep-1', outboundPort: 0, outboundTrafficPolicy: 'REGISTRY_ONLY' });
      sidecars.push(sleep);
    });
    after(async () => {
      await new Promise((r) => external?.close(r));
      ca?.remove();
    });

    const viaSleep = (host: string, path: string) => get(sleep.ports.outbound, path, { host });

    it("carries a request for external.example.com to the egress gateway over mTLS, and from there over TLS it originates (the shape of Istio's egress TLS-origination task)", async () => {
      await applyText(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external}
spec:
  hosts: [external.example.com]
  ports:
  - {number: 80, name: http-port, protocol: HTTP}
  - {number: 443, name: https, protocol: HTTPS}
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{address: ${EXTERNAL}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 80, name: https-port-for-tls-origination, protocol: HTTPS}
    hosts: [external.example.com]
    tls: {mode: ISTIO_MUTUAL}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: egressgateway-for-external}
spec:
  host: istio-egressgateway.istio-system.svc.cluster.local
  subsets:
  - name: external
    trafficPolicy:
      loadBalancer: {simple: ROUND_ROBIN}
      portLevelSettings:
      - port: {number: 80}
        tls: {mode: ISTIO_MUTUAL, sni: external.example.com}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-external-through-egress-gateway}
spec:
  hosts: [external.example.com]
  gateways: [istio-egressgateway, mesh]
  http:
  - match: [{gateways: [mesh], port: 80}]
    route: [{destination: {host: istio-egressgateway.istio-system.svc.cluster.local, subset: external, port: {number: 80}}, weight: 100}]
  - match: [{gateways: [istio-egressgateway], port: 80}]
    route: [{destination: {host: external.example.com, port: {number: 443}}, weight: 100}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: originate-tls-for-external}
spec:
  host: external.example.com
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    portLevelSettings:
    - port: {number: 443}
      tls: {mode: SIMPLE, caCertificates: ${ca.path('ca.pem')}}
`);
      await waitFor('the egress gateway listener', () => egress.gatewayPorts.includes(80), 5000);
      const r = await waitFor('external.example.com through the egress gateway', async () => {
        const x = await viaSleep('external.example.com', '/politics');
        return x.status === 200 && x;
      });
      assert.equal(r.body, 'external answered /politics');
      assert.deepEqual(seen.at(-1), { sni: 'external.example.com', path: '/politics' }, 'TLS was originated, with the host as SNI');
      // Each hop says where it sent the request: the sidecar to the gateway over mTLS, the gateway to the host.
      assert.match(
        sleep.metricsText(),
        /istio_requests_total\{[^}]*reporter="source"[^}]*source_workload="sleep"[^}]*destination_service="istio-egressgateway\.istio-system\.svc\.cluster\.local"[^}]*response_code="200"[^}]*connection_security_policy="unknown"/,
      );
      assert.match(
        egress.metricsText(),
        /istio_requests_total\{[^}]*reporter="source"[^}]*source_workload="istio-egressgateway"[^}]*destination_service_name="external\.example\.com"[^}]*response_code="200"/,
      );
    });

    it('REGISTRY_ONLY: a host the registry does not know gets no way out', async () => {
      const r = await viaSleep('elsewhere.example.com', '/');
      assert.equal(r.status, 404);
      assert.ok(seen.every((x) => x.sni === 'external.example.com'));
    });

    it('a client without a mesh certificate cannot use the egress gateway; one with it can', async () => {
      const pp = sidecars.find((x) => x.options.service === 'productpage')!.identity!;
      const withMeshCert = await fetchTls(80, '/news', { address: EGRESS, host: 'external.example.com', ca: pp.trustBundle.join(''), cert: pp.certPem, key: pp.keyPem, spiffe: true });
      assert.equal(withMeshCert.body, 'external answered /news');
      await assert.rejects(fetchTls(80, '/', { address: EGRESS, host: 'external.example.com', ca: pp.trustBundle.join(''), spiffe: true }));
    });
  });

  describe("a TLS passthrough server (the shape of Istio's ingress-without-TLS-termination task)", () => {
    let ca: OpensslCa;
    let nginx: ReturnType<typeof createHttpsServer>;

    before(async () => {
      ca = opensslCa('/CN=nginx CA');
      ca.issue('nginx', { dns: ['nginx.example.com'] });
      // The workload ends TLS itself; the mesh carries its bytes (a TCP service) over mTLS.
      nginx = createHttpsServer({ cert: ca.read('nginx.pem'), key: ca.read('nginx.key') }, (req, res) => res.end(`nginx says hello to ${(req.socket as TLSSocket).servername}`));
      await new Promise<void>((r) => nginx.listen(0, '127.0.0.1', r));
      const port = (nginx.address() as { port: number }).port;
      const sidecar = await startSidecar(c, 'my-nginx', port, { proxyId: 'my-nginx-1' });
      sidecars.push(sidecar);
      await register('my-nginx-1', 'my-nginx', port, sidecar, 'tcp');
    });
    after(async () => {
      await new Promise((r) => nginx?.close(r));
      ca?.remove();
    });

    it("routes by the server name without ending TLS: the client sees the workload's own certificate", async () => {
      await applyText(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mygateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 9443, name: https, protocol: TLS}
    tls: {mode: PASSTHROUGH}
    hosts: [nginx.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nginx}
spec:
  hosts: [nginx.example.com]
  gateways: [mygateway]
  tls:
  - match:
    - port: 9443
      sniHosts: [nginx.example.com]
    route:
    - destination:
        host: my-nginx
        port: {number: 443}
`);
      await waitFor('the passthrough listener', () => gateway.gatewayPorts.includes(9443), 5000);
      const r = await waitFor('nginx through the gateway', async () => {
        const x = await fetchTls(9443, '/', { host: 'nginx.example.com', ca: ca.read('ca.pem') }).catch(() => undefined);
        return x?.status === 200 && x;
      });
      // Verified against the workload's CA with its host name: TLS ended at nginx, not at the gateway.
      assert.equal(r.body, 'nginx says hello to nginx.example.com');
      await assert.rejects(fetchTls(9443, '/', { host: 'other.example.com', ca: ca.read('ca.pem') }), 'a server name no route takes gets no connection');
      const plain = await fetchVia(9443, '/').then(
        (x) => x.status,
        () => 0,
      );
      assert.equal(plain, 0, 'bytes that are no ClientHello are refused');
      assert.match(
        gateway.metricsText(),
        /istio_tcp_connections_opened_total\{[^}]*source_workload="istio-ingressgateway"[^}]*destination_service_name="my-nginx"[^}]*connection_security_policy="unknown"/,
      );
    });
  });

  it('refuses every request, with the reason, when a policy selects the gateway (gateways do not enforce policies yet)', async () => {
    await applyText(
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ingress-policy, namespace: istio-system}\nspec:\n  selector: {matchLabels: {istio: ingressgateway}}\n  action: ALLOW\n  rules: [{to: [{operation: {paths: [/productpage]}}]}]\n',
    );
    const r = await waitFor('the refusal', async () => {
      const x = await fetchVia(8080, '/productpage');
      return x.status === 403 && x;
    });
    assert.match(r.body, /istio-system\/ingress-policy select this gateway, and gateways do not enforce/);
  });
});
