// How a sidecar process is run, for whoever starts one from code (the host agent's runtimes, the
// benchmarks). proxy/main.ts's first line and systemd/mesh-proxy@.service carry the same flags and
// cannot import them: keep the three alike (docs/benchmarks.md has the measurements behind each).

/**
 * V8's young generation at 2 MB semi-spaces (RSS), garbage collected on the main thread only (CPU
 * and tail under load), and the old generation let grow by 20 % over what survived a collection
 * before the next (private memory under HTTP/1.1 load 33-34 MB median, 35-37 peak, against 41 and
 * 51-53 with V8's own factor, at the same CPU; as the controller runs).
 */
export const SIDECAR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--single-threaded-gc', '--heap-growing-percent=20'];

/** Two malloc arenas, as the controller runs: 3-5 MB less private memory per sidecar under load, the same throughput. */
export const SIDECAR_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
