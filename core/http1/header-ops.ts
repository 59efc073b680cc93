// VirtualService header manipulation (set, add, remove), applied in that order as Envoy does,
// on a header map with lower-case names. Shared by both HTTP paths of the sidecar.
import type { HeaderOps } from '../snapshot/types.js';

export type HeaderMap = Record<string, string | string[] | number | undefined>;

/** Nothing inherited: the prototype of every header map. */
const NO_PROTOTYPE = Object.freeze(Object.create(null) as object);

/**
 * An empty header map with nothing inherited, so that a header named `constructor`, `toString`
 * or `__proto__` is a header like any other (a plain object reads the first two as already set
 * and drops the last). Not Object.create(null): V8 makes that a dictionary, which cost about
 * 1 µs more per request for the relay's two heads; an object whose prototype is an empty
 * null-prototype object stays a fast one.
 */
export function headerMap<T = HeaderMap>(): T {
  return Object.create(NO_PROTOTYPE) as T;
}

export function applyHeaderOps(headers: HeaderMap, ops: HeaderOps | undefined): void {
  if (!ops) return;
  for (const [k, v] of Object.entries(ops.set ?? {})) headers[k] = v;
  for (const [k, v] of Object.entries(ops.add ?? {})) {
    const cur = headers[k];
    headers[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [String(cur), v];
  }
  for (const k of ops.remove ?? []) delete headers[k];
}
