// DestinationRule traffic policies and RequestAuthentication with a JWKS URL, with real traffic:
// outlier detection ejects the instance that keeps failing, consistent hashing keeps a user on
// one instance, and RS256 tokens are checked against keys fetched from a URL.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Sidecar } from '../../proxy/sidecar.js';
import { get, startApp, type TestApp } from '../helpers/apps.js';
import { startController, type TestController } from '../helpers/controller.js';
import { testIssuer } from '../helpers/jwt.js';
import { waitFor } from '../helpers/ports.js';
import { sidecarOptions } from '../helpers/sidecar.js';

const silent = pino({ level: process.env.MESH_TEST_LOG ?? 'silent' });

describe('traffic policies and JWKS URLs with real traffic', () => {
  let c: TestController;
  let client: Sidecar;
  const sidecars: Sidecar[] = [];
  const apps: TestApp[] = [];
  let jwksServer: Server | undefined;
  let ledger: { app: TestApp; sidecar: Sidecar };

  const sidecar = async (service: string, id: string, appPort: number, upstreams: { port: number; service: string }[] = []) => {
    const token = (await c.call('POST', '/v1/tokens', { service })).json().token;
    const s = new Sidecar(sidecarOptions(c, service, appPort, { bootstrapToken: token, proxyId: id, upstreams }), silent);
    await s.start();
    sidecars.push(s);
    return s;
  };
  /** An instance of `service`: its app (answering `status`), its sidecar, and its registration. */
  const instance = async (service: string, id: string, status = 200) => {
    const app = await startApp(id, () => status);
    apps.push(app);
    const s = await sidecar(service, id, app.port);
    await c.call('POST', '/v1/catalog/instances', { id, service, address: '127.0.0.1', port: app.port, protocol: 'http', sidecar: { inboundPort: s.ports.inbound } });
    return { app, sidecar: s };
  };
  const endpoints = (service: string) => client.snapshot?.outbound.services.find((s) => s.name === service)?.clusters[0].endpoints.length ?? 0;
  const call = (service: string, path: string, headers: Record<string, string> = {}) => get(client.ports.upstreams[service], path, { host: service, ...headers });

  before(async () => {
    c = await startController();
    await instance('pay', 'pay-good');
    await instance('pay', 'pay-bad', 503);
    await instance('cart', 'cart-1');
    await instance('cart', 'cart-2');
    await instance('vault', 'vault-1');
    ledger = await instance('ledger', 'ledger-1');
    client = await sidecar('shop', 'shop-1', 1, [
      { port: 0, service: 'pay' },
      { port: 0, service: 'cart' },
      { port: 0, service: 'vault' },
      { port: 0, service: 'ledger' },
    ]);
    await waitFor('the shop sidecar to learn every instance', () => endpoints('pay') === 2 && endpoints('cart') === 2 && endpoints('vault') === 1 && endpoints('ledger') === 1, 5000);
  });

  after(async () => {
    for (const s of sidecars) await s.close();
    for (const a of apps) await a.close();
    jwksServer?.close();
    await c?.close();
  });

  it('ejects the instance that keeps answering 5xx (outlier detection), and counts the ejection', async () => {
    await c.call('POST', '/v1/apply', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'pay', namespace: 'default' },
      spec: {
        host: 'pay',
        trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' }, outlierDetection: { consecutive5xxErrors: 2, interval: '1s', baseEjectionTime: '30s', maxEjectionPercent: 100 } },
      },
    });
    await waitFor('the outlier policy at shop', () => client.snapshot?.outbound.services.find((s) => s.name === 'pay')?.clusters[0].outlierDetection !== undefined, 5000);
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await call('pay', `/pay/${i}`);
      answers.push(r.status === 200 ? r.json().app : String(r.status));
    }
    assert.equal(answers.filter((a) => a === '503').length, 2, `two 5xx answers eject pay-bad, then it gets nothing: ${answers.join(' ')}`);
    assert.deepEqual(new Set(answers.slice(-10)), new Set(['pay-good']));
    assert.match(client.metricsText(), /mesh_proxy_outlier_ejections_total\{cluster="outbound\|\|pay\.default"\} 1/);
  });

  it('keeps a user on one instance by consistent hash of a header, and spreads users over both', async () => {
    await c.call('POST', '/v1/apply', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'cart', namespace: 'default' },
      spec: { host: 'cart', trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } } },
    });
    await waitFor('the hash policy at shop', () => client.snapshot?.outbound.services.find((s) => s.name === 'cart')?.clusters[0].lb.type === 'CONSISTENT_HASH', 5000);
    const byUser = new Map<string, Set<string>>();
    for (let u = 0; u < 12; u++) {
      for (let i = 0; i < 5; i++) {
        const r = await call('cart', '/items', { 'x-user': `user-${u}` });
        assert.equal(r.status, 200);
        byUser.set(`user-${u}`, (byUser.get(`user-${u}`) ?? new Set()).add(r.json().app));
      }
    }
    for (const [user, seen] of byUser) assert.equal(seen.size, 1, `${user} stayed on one instance: ${[...seen].join(', ')}`);
    const used = new Set([...byUser.values()].flatMap((s) => [...s]));
    assert.deepEqual([...used].sort(), ['cart-1', 'cart-2'], 'twelve users are spread over both instances');
  });

  it('checks RS256 tokens against keys fetched from a JWKS URL', async () => {
    const issuer = testIssuer('RS256', 'rsa-1');
    let fetched = 0;
    // A slow identity provider: the keys arrive 500 ms after they are asked for.
    jwksServer = createServer((_req, res) => {
      fetched++;
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(issuer.jwks);
      }, 500);
    });
    await new Promise<void>((r) => jwksServer!.listen(0, '127.0.0.1', r));
    const jwksUri = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/keys.json`;
    await c.call('POST', '/v1/apply', {
      apiVersion: 'security.istio.io/v1',
      kind: 'RequestAuthentication',
      metadata: { name: 'vault-jwt', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'vault' } }, jwtRules: [{ issuer: 'https://login.test', audiences: ['vault'], jwksUri }] },
    });
    await c.call('POST', '/v1/apply', {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'vault-needs-jwt', namespace: 'default' },
      spec: { selector: { matchLabels: { app: 'vault' } }, action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['https://login.test/*'] } }] }] },
    });
    const vault = sidecars.find((s) => s.options.proxyId === 'vault-1')!;
    await waitFor('the JWT rule and policy at vault', () => vault.snapshot?.inbound.jwtRules[0]?.jwksUri === jwksUri && vault.snapshot.inbound.authorization.allow.length === 1, 5000);
    // The sidecar fetches the keys as the rule lands; a request that comes before they arrive
    // waits for them, as Envoy holds it, rather than being refused.
    const now = Math.floor(Date.now() / 1000);
    const good = issuer.token({ iss: 'https://login.test', sub: 'bob', aud: 'vault', exp: now + 600 });
    const ok = await call('vault', '/secret', { authorization: `Bearer ${good}` });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(fetched, 1, 'the request waited for the fetch under way rather than starting another');
    assert.equal((await call('vault', '/secret')).status, 403, 'no token: the ALLOW rule needs a request principal');
    const otherKey = testIssuer('RS256', 'rsa-1').token({ iss: 'https://login.test', sub: 'eve', aud: 'vault', exp: now + 600 });
    assert.equal((await call('vault', '/secret', { authorization: `Bearer ${otherKey}` })).status, 401, 'signed by a key the URL does not publish');
    const wrongAudience = issuer.token({ iss: 'https://login.test', sub: 'bob', aud: 'billing', exp: now + 600 });
    assert.equal((await call('vault', '/secret', { authorization: `Bearer ${wrongAudience}` })).status, 401);
  });

  it("turns TCP keepalive on for upstream connections as a DestinationRule's tcpKeepalive says (Istio's reference example)", async () => {
    const keepaliveTimer = () => {
      const out = execFileSync('ss', ['-tnoH', 'state', 'established', `( dport = :${ledger.sidecar.ports.inbound} )`], { encoding: 'utf8' });
      // ss prints the time to the next probe as e.g. 119min, 1min5sec or 58sec.
      const m = /timer:\(keepalive,(?:(\d+)h)?(?:(\d+)min)?(?:(\d+)(?:\.\d+)?(?:sec|s))?,/.exec(out);
      return m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : undefined;
    };
    assert.equal((await call('ledger', '/before')).status, 200);
    assert.equal(keepaliveTimer(), undefined, 'no keepalive on the connection before the rule (the system default is off)');
    const applied = await c.call('POST', '/v1/apply', {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'ledger', namespace: 'default' },
      spec: { host: 'ledger', trafficPolicy: { connectionPool: { tcp: { maxConnections: 100, connectTimeout: '30ms', tcpKeepalive: { time: '7200s', interval: '75s' } } } } },
    });
    assert.ok(applied.status < 300, applied.text);
    await waitFor('the rule at the shop sidecar', () => client.snapshot?.outbound.services.find((s) => s.name === 'ledger')?.clusters[0].connectionPool.tcpKeepalive?.timeS === 7200, 5000);
    assert.equal((await call('ledger', '/after', { connection: 'close' })).status, 200);
    const seconds = await waitFor('a connection with keepalive to the ledger sidecar', () => keepaliveTimer(), 5000);
    assert.ok(seconds > 7000 && seconds <= 7200, `the first probe after the rule's 2 h idle (timer at ${seconds} s)`);
  });
});
