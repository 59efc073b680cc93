// One suite for every Catalog implementation: what the controller relies on.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Catalog } from '../../controller/catalog/catalog.js';
import { waitFor } from '../helpers/ports.js';

export interface CatalogHarness {
  open(): Promise<{ catalog: Catalog; close(): Promise<void> }>;
}

export function catalogContract(name: string, harness: CatalogHarness): void {
  describe(`Catalog contract: ${name}`, () => {
    let catalog: Catalog;
    let close: () => Promise<void>;
    let app: Server;
    let appPort = 0;
    let appHealthy = true;
    before(async () => {
      ({ catalog, close } = await harness.open());
      await catalog.start();
      // A real application whose health endpoint the test can turn bad.
      app = createServer((_req, res) => {
        res.statusCode = appHealthy ? 200 : 500;
        res.end(appHealthy ? 'ok' : 'sick');
      });
      await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
      appPort = (app.address() as { port: number }).port;
    });
    after(async () => {
      await catalog.close();
      await close();
      app.close();
    });

    const find = (key: string, id: string) =>
      catalog
        .endpoints()
        .get(key)
        ?.find((i) => i.id === id);

    it('lists a registered instance with its labels and sidecar within a second', async () => {
      const started = Date.now();
      await catalog.register({
        id: 'reviews-v2-a',
        service: 'reviews',
        address: '127.0.0.1',
        port: 9080,
        protocol: 'http',
        labels: { version: 'v2' },
        sidecar: { inboundPort: 15006, statusPort: 15020 },
      });
      const inst = await waitFor('reviews-v2-a in the catalog', () => find('default/reviews', 'reviews-v2-a'), 1000, 10);
      assert.ok(Date.now() - started <= 1000);
      assert.equal(inst.address, '127.0.0.1');
      assert.equal(inst.port, 9080);
      assert.equal(inst.protocol, 'http');
      assert.deepEqual(inst.labels, { version: 'v2' });
      assert.deepEqual(inst.sidecar, { inboundPort: 15006, statusPort: 15020 });
    });

    it('keeps namespaces apart', async () => {
      await catalog.register({ id: 'ratings-prod-1', service: 'ratings', namespace: 'prod', address: '127.0.0.1', port: 9081 });
      await waitFor('ratings in prod', () => find('prod/ratings', 'ratings-prod-1'), 1000, 10);
      assert.equal(catalog.endpoints().get('default/ratings'), undefined);
    });

    it('notifies listeners of changes', async () => {
      let calls = 0;
      const stop = catalog.onChange(() => calls++);
      await catalog.register({ id: 'details-1', service: 'details', address: '127.0.0.1', port: 9082 });
      await waitFor('a change notification', () => calls > 0, 1000, 10);
      stop();
    });

    it('drops an instance whose health check fails and brings it back when it passes', async () => {
      await catalog.register({ id: 'web-1', service: 'web', address: '127.0.0.1', port: appPort, check: { http: `http://127.0.0.1:${appPort}/health`, interval: '200ms' } });
      await waitFor('web-1 healthy', () => find('default/web', 'web-1'), 10_000);
      appHealthy = false;
      await waitFor('web-1 removed after failing its check', () => !find('default/web', 'web-1'), 10_000);
      assert.deepEqual(catalog.endpoints().get('default/web'), [], 'the service stays known, with no healthy instance');
      appHealthy = true;
      await waitFor('web-1 back after passing again', () => find('default/web', 'web-1'), 10_000);
    });

    it('removes a deregistered instance', async () => {
      await catalog.deregister('details-1');
      await waitFor('details-1 gone', () => !find('default/details', 'details-1'), 1000, 10);
    });

    it('rejects a malformed registration with the fields named', async () => {
      await assert.rejects(catalog.register({ id: '', service: 'Bad Name', address: '127.0.0.1', port: 70000 } as never), (e: Error & { violations?: { path: string }[] }) => {
        assert.deepEqual(e.violations?.map((v) => v.path).sort(), ['id', 'port', 'service']);
        return true;
      });
    });
  });
}
