// How long the property tests and the socket fuzzer run. CI runs them briefly, seeded at random
// (fast-check prints the seed and the shrunk counterexample of any failure); a person runs them
// for as long as they like with `npm run fuzz` (FUZZ_RUNS, FUZZ_SECONDS), or replays a failure
// with FUZZ_SEED.
import type { Parameters } from 'fast-check';

export function fuzzParameters<T>(defaultRuns = 400): Parameters<T> {
  const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
  return { numRuns: Number(process.env.FUZZ_RUNS ?? defaultRuns), ...(seed === undefined ? {} : { seed }), verbose: 1 };
}

/** Seconds the socket-level fuzzer sends traffic for. */
export const fuzzSeconds = (): number => Number(process.env.FUZZ_SECONDS ?? 8);
