import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsulCatalog } from '../../controller/catalog/consul-catalog.js';
import { EmbeddedCatalog } from '../../controller/catalog/embedded.js';
import { startConsul } from '../helpers/consul.js';
import { catalogContract } from './catalog.contract.js';

catalogContract('embedded', {
  async open() {
    return { catalog: new EmbeddedCatalog(join(mkdtempSync(join(tmpdir(), 'mesh-cat-')), 'registry.json')), close: async () => {} };
  },
});

catalogContract('consul', {
  async open() {
    const agent = await startConsul();
    return { catalog: new ConsulCatalog(agent.client), close: () => agent.stop() };
  },
});
