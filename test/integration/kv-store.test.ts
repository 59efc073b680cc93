import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Consul from 'consul';
import { ConsulKvStore } from '../../controller/kv/consul-kv.js';
import { FileKvStore } from '../../controller/kv/file-kv.js';
import { startConsul } from '../helpers/consul.js';
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
