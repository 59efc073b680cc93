// The JWKS cache against a real HTTP server: what a request without its keys may wait for.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import { JwksCache } from '../../proxy/jwks-cache.js';
import type { CompiledJwtRule } from '../../core/snapshot/types.js';
import { testIssuer } from '../helpers/jwt.js';

const issuer = testIssuer('ES256');
const servers: Server[] = [];
after(() => servers.forEach((s) => s.close()));

/** A JWKS endpoint answering `status` (the keys when 200) after `delayMs`; counts the fetches. */
async function jwksEndpoint(status: number, delayMs: number): Promise<{ rule: CompiledJwtRule; fetches: () => number }> {
  let fetches = 0;
  const server = createServer((_req, res) => {
    fetches++;
    setTimeout(() => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? issuer.jwks : '{"error":"down"}');
    }, delayMs);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const jwksUri = `http://127.0.0.1:${(server.address() as { port: number }).port}/keys`;
  return { rule: { issuer: 'https://login.test', audiences: [], fromHeaders: [], fromParams: [], forwardOriginalToken: false, jwksUri }, fetches: () => fetches };
}

describe('JWKS cache', () => {
  it('lets a request wait for the fetch under way, and starts one for a URL never asked', async () => {
    const { rule, fetches } = await jwksEndpoint(200, 200);
    const cache = new JwksCache();
    assert.equal(cache.keys(rule), undefined, 'nothing fetched yet');
    const first = cache.keysFetched(rule);
    assert.ok(first, 'the fetch the lookup started can be waited on');
    assert.equal(cache.keysFetched(rule), first, 'a second request waits on the same fetch');
    await first;
    assert.equal(cache.keys(rule)?.length, 1);
    assert.equal(cache.keysFetched(rule), undefined, 'keys here: nothing to wait for');
    assert.equal(fetches(), 1);

    const fresh = await jwksEndpoint(200, 0);
    const other = new JwksCache();
    const started = other.keysFetched(fresh.rule);
    assert.ok(started, 'a URL never asked is fetched for the request');
    await started;
    assert.equal(other.keys(fresh.rule)?.length, 1);
  });

  it('does not hold requests on a URL whose last fetch failed', async () => {
    const { rule, fetches } = await jwksEndpoint(500, 0);
    const cache = new JwksCache();
    await cache.prefetch([rule]);
    assert.equal(cache.keys(rule), undefined);
    assert.equal(cache.keysFetched(rule), undefined, 'a request is refused at once, not held for a retry');
    assert.equal(fetches(), 1, 'no new fetch within the retry pause');
  });

  it("gives up on a JWKS URL after the rule's timeout (RequestAuthentication timeout), and waits as long as it says", async () => {
    const slow = await jwksEndpoint(200, 400);
    const impatient = new JwksCache();
    await impatient.prefetch([{ ...slow.rule, jwksTimeoutMs: 100 }]);
    assert.equal(impatient.keys({ ...slow.rule, jwksTimeoutMs: 100 }), undefined, 'the answer came after the timeout: no keys');
    const patient = new JwksCache();
    await patient.prefetch([{ ...slow.rule, jwksTimeoutMs: 2000 }]);
    assert.equal(patient.keys(slow.rule)?.length, 1);
  });
});
