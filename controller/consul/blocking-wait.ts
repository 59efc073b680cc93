// How long each of the controller's blocking queries waits for a change. One fixed wait made a
// controller's thousand service queries (started together) expire together every 30 s, each
// answered in full by Consul and read by the controller: with two controllers at 1,000 services,
// Consul's servers and agents spent about 2.5 CPU-s in a burst every half minute, and a change
// pushed then took about twice as long (docs/scaling.md). Each query waits its own time, drawn once, so that they expire
// spread out; on average as often as before.

/** The shortest and the longest wait; their mean is the 30 s used before. */
export const BLOCKING_WAIT_MS = { min: 20_000, max: 40_000 } as const;

/** A blocking query's `wait` (Consul's duration syntax): uniform over BLOCKING_WAIT_MS. `random` for the tests. */
export function blockingWait(random: () => number = Math.random): string {
  const { min, max } = BLOCKING_WAIT_MS;
  return `${min + Math.floor(random() * (max - min))}ms`;
}
