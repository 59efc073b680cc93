// VirtualService header manipulation (set, add, remove), applied in that order as Envoy does,
// on a header map with lower-case names. Shared by both HTTP paths of the sidecar.
import type { HeaderOps } from '../snapshot/types.js';

export type HeaderMap = Record<string, string | string[] | number | undefined>;

export function applyHeaderOps(headers: HeaderMap, ops: HeaderOps | undefined): void {
  if (!ops) return;
  for (const [k, v] of Object.entries(ops.set ?? {})) headers[k] = v;
  for (const [k, v] of Object.entries(ops.add ?? {})) {
    const cur = headers[k];
    headers[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [String(cur), v];
  }
  for (const k of ops.remove ?? []) delete headers[k];
}
