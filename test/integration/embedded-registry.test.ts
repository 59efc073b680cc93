// The embedded registry's files: a change is one line appended to the journal (the compacted
// file is not rewritten), a restart replays the journal over the file, a torn last line costs
// only that change, and the journal is folded into the file once it grows.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EmbeddedCatalog } from '../../controller/catalog/embedded.js';

const reg = (id: string, port = 9080) => ({ id, service: 'reviews', address: '10.0.0.1', port, labels: { version: 'v1' } });
const ids = (c: EmbeddedCatalog) => (c.endpoints().get('default/reviews') ?? []).map((i) => i.id).sort();

describe('embedded registry on disk', () => {
  it('appends each change to the journal and replays it after a restart', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'mesh-reg-')), 'registry.json');
    const first = new EmbeddedCatalog(path);
    await first.start();
    const baseSize = statSync(path).size;
    for (const id of ['r1', 'r2', 'r3']) await first.register(reg(id));
    await first.deregister('r2');
    await first.close();
    assert.equal(statSync(path).size, baseSize, 'the compacted file was not rewritten for these changes');
    assert.equal(readFileSync(`${path}.journal`, 'utf8').trim().split('\n').length, 4);

    const second = new EmbeddedCatalog(path);
    await second.start();
    assert.deepEqual(ids(second), ['r1', 'r3']);
    assert.equal(readFileSync(`${path}.journal`, 'utf8'), '', 'folded into the file at start');
    await second.close();
  });

  it('loses only a torn last line (a crash mid-append)', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'mesh-reg-')), 'registry.json');
    const first = new EmbeddedCatalog(path);
    await first.start();
    await first.register(reg('r1'));
    await first.close();
    appendFileSync(`${path}.journal`, '{"op":"put","r":{"id":"r9","serv');
    const second = new EmbeddedCatalog(path);
    await second.start();
    assert.deepEqual(ids(second), ['r1']);
    await second.close();
  });

  it('folds the journal into the file once it has grown', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'mesh-reg-')), 'registry.json');
    const c = new EmbeddedCatalog(path);
    await c.start();
    for (let i = 0; i < 1100; i++) await c.register(reg(`r${i % 50}`, 10000 + i));
    await c.close();
    const journalLines = readFileSync(`${path}.journal`, 'utf8').split('\n').filter(Boolean).length;
    assert.ok(journalLines < 1000, `the journal was compacted (${journalLines} lines left)`);
    assert.equal((JSON.parse(readFileSync(path, 'utf8')) as unknown[]).length, 50);
    const again = new EmbeddedCatalog(path);
    await again.start();
    assert.equal(ids(again).length, 50);
    assert.equal(
      again
        .endpoints()
        .get('default/reviews')!
        .find((i) => i.id === 'r49')!.port,
      10000 + 1099,
    );
    await again.close();
  });
});
