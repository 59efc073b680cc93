import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Consul from 'consul';
import { ConsulKvStore } from '../../controller/kv/consul-kv.js';
import { FileKvStore } from '../../controller/kv/file-kv.js';
import type { MeshError } from '../../core/errors.js';
import { startConsul, type ConsulAgent } from '../helpers/consul.js';
import { kvStoreContract } from './kv-store.contract.js';

kvStoreContract('file', {
  async open() {
    const path = join(mkdtempSync(join(tmpdir(), 'mesh-kv-')), 'state.json');
    let shared: FileKvStore | undefined;
    const store = new FileKvStore(path);
    shared = store;
    // A file store has one writer; "another client" is the same process's store, as for a single controller.
    return { store, second: async () => ({ ...wrap(shared!), start: async () => {}, close: async () => {} }), close: async () => {} };
  },
});

kvStoreContract('consul', {
  async open() {
    const agent = await startConsul();
    const make = () => new ConsulKvStore(new Consul({ host: '127.0.0.1', port: agent.httpPort }), 'mesh-test/');
    return { store: make(), second: async () => make(), close: () => agent.stop() };
  },
});

function wrap(s: FileKvStore) {
  return {
    get: s.get.bind(s),
    list: s.list.bind(s),
    put: s.put.bind(s),
    delete: s.delete.bind(s),
    watch: s.watch.bind(s),
    healthy: s.healthy.bind(s),
  };
}

// Consul closes kept-alive connections as it sees fit; one closed just as a read goes out must
// not fail an apply or mark Consul down. Here a relay in front of a real agent closes, without an
// answer, the connection of the first request that arrives after it is told to.
describe('Consul KV store when a connection closes under a request', () => {
  let agent: ConsulAgent;
  let relay: Server;
  let dropNext = false;

  before(async () => {
    agent = await startConsul();
    relay = createServer((client) => {
      const upstream = connect(agent.httpPort, '127.0.0.1');
      client.on('data', (chunk: Buffer) => {
        if (dropNext) {
          dropNext = false;
          client.destroy();
          upstream.destroy();
          return;
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => client.write(chunk));
      for (const s of [client, upstream]) s.on('error', () => undefined);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  });

  after(async () => {
    relay?.close();
    await agent?.stop();
  });

  it('asks a read again and stays healthy; reports a write as unavailable rather than repeat it, and stays healthy', async () => {
    const store = new ConsulKvStore(new Consul({ host: '127.0.0.1', port: (relay.address() as AddressInfo).port }), 'mesh-drop/');
    await store.start();
    try {
      await store.put('a', 'one');
      dropNext = true;
      assert.equal((await store.get('a'))?.value, 'one');
      dropNext = true;
      assert.deepEqual(
        (await store.list('')).map((e) => e.value),
        ['one'],
      );
      assert.equal(store.healthy(), true);
      dropNext = true;
      await assert.rejects(store.put('b', 'two'), (err: MeshError) => err.code === 'UNAVAILABLE');
      // One dropped connection is not Consul down: it answered when asked.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(store.healthy(), true);
    } finally {
      await store.close();
    }
  });
});
