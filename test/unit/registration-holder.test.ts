// The host agent's watch on the controller holding its registrations (agent/registration-holder.ts):
// a move is told once, with where from and where to; a look that finds no controller changes nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistrationHolderWatch } from '../../agent/registration-holder.js';

function scripted(answers: (string | Error)[], holder?: string) {
  const moves: [string, string][] = [];
  let asked = 0;
  const watch = new RegistrationHolderWatch({
    probe: () => {
      const next = answers[Math.min(asked++, answers.length - 1)];
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
    moved: (from, to) => moves.push([from, to]),
    intervalMs: 60_000,
    timeoutMs: 1_000,
    ...(holder ? { holder } : {}),
  });
  return { watch, moves };
}

describe('registration holder watch', () => {
  it('tells a move once, and nothing while the same controller answers or none does', async () => {
    const { watch, moves } = scripted(['https://a', 'https://a', new Error('none answers'), 'https://a', 'https://b', 'https://b']);
    await watch.start();
    for (let i = 0; i < 5; i++) await watch.check();
    watch.close();
    assert.deepEqual(moves, [['https://a', 'https://b']]);
  });

  it('takes a first look that finds another controller than the one registrations went through for a move', async () => {
    const { watch, moves } = scripted(['https://b'], 'https://a');
    await watch.start();
    watch.close();
    assert.deepEqual(moves, [['https://a', 'https://b']]);
  });

  it('does not start a look while one is still waiting for its answer', async () => {
    let release: (url: string) => void = () => undefined;
    let asked = 0;
    const watch = new RegistrationHolderWatch({
      probe: () => {
        asked++;
        return new Promise((r) => (release = r));
      },
      moved: () => undefined,
      intervalMs: 60_000,
      timeoutMs: 1_000,
    });
    const first = watch.start();
    await watch.check();
    assert.equal(asked, 1);
    release('https://a');
    await first;
    watch.close();
  });

  it('says nothing after close, even for a look that was under way', async () => {
    let release: (url: string) => void = () => undefined;
    const moves: string[] = [];
    const watch = new RegistrationHolderWatch({ probe: () => new Promise((r) => (release = r)), moved: (_f, to) => moves.push(to), intervalMs: 60_000, timeoutMs: 1_000 });
    const first = watch.start();
    release('https://a');
    await first;
    const second = watch.check();
    watch.close();
    release('https://b');
    await second;
    assert.deepEqual(moves, []);
  });

  it('refuses an interval or timeout that is not positive', () => {
    assert.throws(
      () => new RegistrationHolderWatch({ probe: () => Promise.resolve(''), moved: () => undefined, intervalMs: 0, timeoutMs: 1 }),
      /intervalMs and timeoutMs must be positive, got 0 and 1/,
    );
  });
});
