// A push to many proxies goes out in batches: the first proxies are answered while later ones
// still hold the old version, every watch is answered in the end, and a newer change arriving
// mid-push takes over so that every proxy ends with the newest version. Watches end as they
// should: on their proxy's change only, on drain, when the caller goes, and a proxy that watches
// is never forgotten.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SnapshotHub } from '../../controller/snapshots/hub.js';
import type { ServiceInstance } from '../../core/catalog-model.js';
import type { CompileContext } from '../../core/snapshot/compile.js';

const PROXIES = 450;

function instance(i: number): ServiceInstance {
  return { id: `ratings-${i}`, service: 'ratings', namespace: 'default', address: `10.0.0.${i}`, port: 9080, labels: { version: 'v1' }, healthy: true };
}

/** A mesh with one service, ratings, whose endpoints are whatever `endpoints()` says at compile time. */
function ratingsMesh(endpoints: () => ServiceInstance[]): () => CompileContext {
  return () => ({
    resources: [],
    services: new Map([['default/ratings', endpoints()]]),
    trustDomain: 'cluster.local',
    rootNamespace: 'istio-system',
    trustBundle: [],
  });
}

describe('snapshot hub pushes', () => {
  it('answers watches batch by batch, every one in the end, and a newer change takes over', async () => {
    let endpoints = [instance(1)];
    const hub = new SnapshotHub(
      ratingsMesh(() => endpoints),
      { coalesceMs: 0, maxDelayMs: 0, forgetAfterMs: 60_000 },
    );
    const refs = Array.from({ length: PROXIES }, (_, i) => ({ id: `productpage-${i}`, service: 'productpage', namespace: 'default' }));
    const old = new Map(refs.map((r) => [r.id, hub.current(r).version]));
    const holdsOld = () => refs.filter((r) => hub.get(r.id)!.version === old.get(r.id)).length;

    let stillOldAtFirstAnswer = -1;
    const answered = refs.map((r) =>
      hub.watch(r, old.get(r.id), 10_000).then((s) => {
        if (stillOldAtFirstAnswer < 0) {
          stillOldAtFirstAnswer = holdsOld();
          // A newer change while the push is under way.
          endpoints = [instance(1), instance(2), instance(3)];
          hub.invalidate();
        }
        return s.version;
      }),
    );
    endpoints = [instance(1), instance(2)];
    hub.invalidate();
    const versions = await Promise.all(answered);
    assert.ok(
      versions.every((v, i) => v !== old.get(refs[i].id)),
      'every watch is answered with a new version',
    );
    assert.ok(stillOldAtFirstAnswer > 0, `the first answer went out while ${stillOldAtFirstAnswer} proxies still held the old version`);
    assert.ok(stillOldAtFirstAnswer < PROXIES, 'and after the first batch was compiled');

    const withNewest = () => refs.filter((r) => hub.get(r.id)!.jsonParts.join('').includes('10.0.0.3')).length;
    for (let i = 0; i < 100 && withNewest() < PROXIES; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(withNewest(), PROXIES, 'every proxy ends with the newest change');
    hub.close();
  });
});

describe('snapshot hub watches', () => {
  let endpoints = [instance(1)];
  const context = ratingsMesh(() => endpoints);
  const ref = (name: string) => ({ id: name, service: name.split('-')[0], namespace: 'default' });
  const pending = <T>(p: Promise<T>) => Promise.race([p.then(() => 'answered'), new Promise((r) => setTimeout(() => r('pending'), 50))]);

  it('answers every watch of a proxy whose snapshot changed, and none of a proxy whose snapshot did not', async () => {
    endpoints = [instance(1)];
    const hub = new SnapshotHub(context, { coalesceMs: 0, maxDelayMs: 0, forgetAfterMs: 60_000 });
    // productpage calls ratings (its snapshot lists ratings' endpoints); ratings itself fronts it.
    const caller = ref('productpage-1');
    const held = hub.current(caller).version;
    const twice = [hub.watch(caller, held, 10_000), hub.watch(caller, held, 10_000)];
    const other = ref('details-1');
    const otherWatch = hub.watch(other, hub.current(other).version, 10_000);
    endpoints = [instance(1), instance(2)];
    hub.invalidate();
    await Promise.race(twice);
    assert.deepEqual(await Promise.all(twice.map(pending)), ['answered', 'answered'], 'both watches of the proxy were answered by the change');
    const answers = await Promise.all(twice);
    assert.ok(
      answers.every((s) => s.version !== held),
      'with the new version',
    );
    assert.equal(await pending(otherWatch), 'answered', 'every proxy calls ratings here, so details is answered too');
    const quiet = hub.watch(caller, hub.get(caller.id)!.version, 10_000);
    hub.invalidate(); // nothing changed: no new version, no answer
    assert.equal(await pending(quiet), 'pending', 'a watch whose proxy did not change stays open');
    hub.close();
    assert.equal(await pending(quiet), 'answered', 'close answers it');
  });

  it('compiles a proxy that comes back under another identity (a new certificate, another service account) for that identity', () => {
    const hub = new SnapshotHub(context, { coalesceMs: 0, maxDelayMs: 0, forgetAfterMs: 60_000 });
    const first = hub.current({ ...ref('productpage-1'), serviceAccount: 'bookinfo-productpage' });
    assert.equal(first.ref.serviceAccount, 'bookinfo-productpage');
    const again = hub.current({ ...ref('productpage-1'), serviceAccount: 'productpage-v2' });
    assert.notEqual(again.version, first.version);
    const identity = (JSON.parse(again.jsonParts.join('')) as { proxy: { identity: string } }).proxy.identity;
    assert.equal(identity, 'spiffe://cluster.local/ns/default/sa/productpage-v2');
    // An operator reading it with the admin token names no identity: the proxy's state stays.
    assert.equal(hub.current(ref('productpage-1')).version, again.version);
    hub.close();
  });

  it('never sends a proxy what was compiled for another caller naming its id', async () => {
    endpoints = [instance(1)];
    const hub = new SnapshotHub(context, { coalesceMs: 0, maxDelayMs: 0, forgetAfterMs: 60_000 });
    const own = { ...ref('productpage-1'), labels: { app: 'productpage' }, serviceAccount: 'bookinfo-productpage' };
    const seen: { ref: unknown; identity: string }[] = [];
    const identityOf = (parts: string[]) => (JSON.parse(parts.join('')) as { proxy: { identity: string } }).proxy.identity;
    const sub = hub.subscribe(own, undefined, { changed: (s) => seen.push({ ref: s.ref, identity: identityOf(s.jsonParts) }), drained: () => assert.fail('the proxy keeps its stream') });
    // A workload of the namespace claims the proxy's id, under its own identity and labels of its
    // choosing, again and again; an operator reads it without labels.
    for (let i = 0; i < 6; i++) hub.current({ ...ref('productpage-1'), labels: { app: `other-${i}` }, serviceAccount: 'intruder' });
    hub.current(ref('productpage-1'));
    endpoints = [instance(1), instance(2)];
    hub.invalidate();
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(seen.length, 1, 'the change reached the proxy');
    assert.deepEqual(seen[0], { ref: own, identity: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage' });
    assert.equal(hub.get('productpage-1'), sub.state, "operators see the proxy that streams, not the callers' states");
    sub.close();
    hub.close();
  });

  it('keeps at most so many states of one workload identity without a watch, forgetting the one idle longest', async () => {
    endpoints = [instance(1)];
    const hub = new SnapshotHub(context, { coalesceMs: 0, maxDelayMs: 0, forgetAfterMs: 60_000, maxIdleStatesPerIdentity: 3 });
    const as = (id: string, serviceAccount: string) => ({ ...ref(id), serviceAccount });
    // A proxy of the identity that follows its snapshot, and one that long-polls.
    const streaming = hub.subscribe(as('productpage-1', 'shared'), undefined, { changed: () => undefined, drained: () => undefined });
    const polling = as('productpage-2', 'shared');
    const held = hub.current(polling).version;
    const poll = hub.watch(polling, held, 10_000);
    // A caller of the same identity reads snapshots under ever new ids and leaves them.
    for (let i = 0; i < 10; i++) hub.current(as(`productpage-fake-${i}`, 'shared'));
    // The admin token is not a workload's to count.
    for (let i = 0; i < 5; i++) hub.current(ref(`productpage-admin-${i}`));
    const kept = (prefix: string) =>
      hub
        .list()
        .filter((s) => s.ref.id.startsWith(prefix))
        .map((s) => s.ref.id);
    assert.deepEqual(kept('productpage-fake-'), ['productpage-fake-7', 'productpage-fake-8', 'productpage-fake-9'], 'the three idle longest beyond the cap are forgotten');
    assert.equal(kept('productpage-admin-').length, 5);
    assert.ok(hub.get('productpage-1') && hub.get('productpage-2'), 'proxies with a stream or a watch are never forgotten for it');
    endpoints = [instance(1), instance(2)];
    hub.invalidate();
    assert.notEqual((await poll).version, held, 'the polling proxy hears of the change');
    streaming.close();
    hub.close();
  });

  it('answers every open watch on drain, and any later watch at once', async () => {
    const hub = new SnapshotHub(context, { coalesceMs: 0, maxDelayMs: 0, forgetAfterMs: 60_000 });
    const refs = Array.from({ length: 50 }, (_, i) => ref(`reviews-${i}`));
    const open = refs.map((r) => hub.watch(r, hub.current(r).version, 10_000));
    hub.drain();
    assert.deepEqual(
      await Promise.all(open.map(pending)),
      open.map(() => 'answered'),
    );
    const late = ref('reviews-late');
    assert.equal(await pending(hub.watch(late, hub.current(late).version, 10_000)), 'answered', 'a watch after drain is not held');
    hub.close();
  });

  it('tells the subscription of a stream of every change until it closes, of the drain once, and keeps its proxy', async () => {
    endpoints = [instance(1)];
    const hub = new SnapshotHub(context, { coalesceMs: 0, maxDelayMs: 0, forgetAfterMs: 20 });
    const seen: string[] = [];
    let drained = 0;
    const streaming = ref('productpage-streaming');
    const sub = hub.subscribe(streaming, undefined, { changed: (s) => seen.push(s.version), drained: () => drained++ });
    const first = sub.state.version;
    const gone = hub.subscribe(ref('productpage-gone'), undefined, { changed: () => assert.fail('a closed subscription is told nothing'), drained: () => assert.fail('nor of the drain') });
    gone.close();
    hub.start();
    for (const n of [2, 3]) {
      endpoints = Array.from({ length: n }, (_, i) => instance(i + 1));
      hub.invalidate();
      await new Promise((r) => setTimeout(r, 40));
    }
    assert.equal(seen.length, 2, 'each change, in order');
    assert.ok(seen[0] !== first && seen[1] !== seen[0]);
    assert.ok(hub.get(streaming.id), 'a proxy with an open stream is not forgotten');
    hub.acknowledged(sub.state, seen[1]);
    assert.equal(hub.get(streaming.id)!.ackedVersion, seen[1]);
    hub.drain();
    hub.drain();
    assert.equal(drained, 2, 'each drain tells it (the stream ends on the first)');
    sub.close();
    hub.close();
    assert.equal(drained, 2, 'closed: no more');
  });

  it('ends a watch whose caller went away, and forgets only proxies that watch nothing', async () => {
    const hub = new SnapshotHub(context, { coalesceMs: 0, maxDelayMs: 0, forgetAfterMs: 20 });
    const gone = ref('ratings-gone');
    const abort = new AbortController();
    const watched = hub.watch(gone, hub.current(gone).version, 10_000, abort.signal);
    const watching = ref('ratings-watching');
    const held = hub.watch(watching, hub.current(watching).version, 10_000);
    abort.abort();
    assert.equal(await pending(watched), 'answered', 'the aborted watch ended');
    hub.start();
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(hub.get(gone.id), undefined, 'the proxy whose watch ended was forgotten once idle');
    assert.ok(hub.get(watching.id), 'the proxy with an open watch was kept');
    hub.close();
    assert.equal(await pending(held), 'answered');
  });

  it('answers a proxy that moved here from a lost controller with a delta against what it holds, whether it came before the change or as it landed', async () => {
    endpoints = [instance(1)];
    const hub = new SnapshotHub(context, { coalesceMs: 0, maxDelayMs: 0, forgetAfterMs: 60_000 });
    // Another controller compiles the same snapshots from the same inputs: a hub of its own stands in for it.
    const lost = new SnapshotHub(context, { coalesceMs: 0, maxDelayMs: 0, forgetAfterMs: 60_000 });
    const early = ref('productpage-early');
    const late = ref('productpage-late');
    const heldEarly = lost.current(early).version;
    const heldLate = lost.current(late).version;
    hub.current(ref('productpage-here')); // this controller's own proxies: it has compiled a round
    // The early one watches here before the change, naming what the lost controller sent it.
    const watch = hub.watch(early, heldEarly, 10_000);
    endpoints = [instance(1), instance(2)];
    hub.invalidate();
    const answered = await watch;
    assert.notEqual(answered.version, heldEarly);
    assert.equal(hub.partsToSend(answered, heldEarly, true).delta, true, 'the proxy that came before the change gets a delta');
    // The late one comes after the change was compiled here: its first watch is answered at once.
    const now = await hub.watch(late, heldLate, 10_000);
    assert.notEqual(now.version, heldLate);
    const sent = hub.partsToSend(now, heldLate, true);
    assert.equal(sent.delta, true, 'the proxy that came as the change landed gets a delta');
    assert.ok(sent.parts.join('').includes('10.0.0.2'), 'with the new endpoint');
    const stranger = ref('productpage-stranger');
    const state = await hub.watch(stranger, '0123456789abcdef', 10_000);
    assert.equal(hub.partsToSend(state, '0123456789abcdef', true).delta, false, 'a version no round here compiled: whole');
    hub.close();
    lost.close();
  });
});
