import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ControllerList, parseControllers } from '../../common/controller-list.js';
import { MeshError } from '../../core/errors.js';
import { fuzzParameters } from '../fuzz/fuzz-options.js';

const url = fc.tuple(fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/), fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `https://${h}:${p}`);

describe('parseControllers', () => {
  it('reads any list of https URLs, whatever commas and spaces separate them, once each', () => {
    fc.assert(
      fc.property(fc.array(url, { minLength: 1, maxLength: 5 }), fc.array(fc.constantFrom(',', ' ', ', ', ',,', '\n'), { minLength: 5, maxLength: 5 }), (urls, seps) => {
        const text = urls.map((u, i) => `${u}${i % 2 ? '/' : ''}`).reduce((acc, u, i) => `${acc}${i ? seps[i] : ''}${u}`, '');
        assert.deepEqual(parseControllers(text), [...new Set(urls)]);
      }),
      fuzzParameters(),
    );
  });

  it('answers any text with URLs that are all https:// and nothing else, or a sentence naming the entry', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        const r = parseControllers(text);
        if (typeof r === 'string') assert.ok(r === 'no controller URL given' || r.includes('is not a controller'), r);
        else for (const u of r) assert.match(u, /^https:\/\/[^/\s,]+$/);
      }),
      fuzzParameters(),
    );
    assert.equal(parseControllers('https://a:1,http://b:2'), `"http://b:2" is not a controller's https:// URL (e.g. https://127.0.0.1:15012)`);
  });
});

describe('ControllerList', () => {
  const down = (url: string) => new MeshError('UNAVAILABLE', `cannot reach ${url}`);

  it('moves to the next controller when one cannot be reached, and stays with the one that answers', async () => {
    const list = new ControllerList(['https://a:1', 'https://b:1', 'https://c:1']);
    const asked: string[] = [];
    const answer = await list.run(async (u) => {
      asked.push(u);
      if (u !== 'https://c:1') throw down(u);
      return 'ok';
    });
    assert.equal(answer, 'ok');
    assert.deepEqual(asked, ['https://a:1', 'https://b:1', 'https://c:1']);
    assert.equal(list.active, 'https://c:1');
  });

  it("takes a controller's refusal as its answer, and gives up after asking each once", async () => {
    const list = new ControllerList(['https://a:1', 'https://b:1']);
    let asked = 0;
    await assert.rejects(
      list.run(async () => {
        asked++;
        throw new MeshError('PERMISSION_DENIED', 'no');
      }),
      /no/,
    );
    assert.equal(asked, 1);
    asked = 0;
    await assert.rejects(
      list.run(async (u) => {
        asked++;
        throw down(u);
      }),
      /cannot reach/,
    );
    assert.equal(asked, 2);
  });
});
