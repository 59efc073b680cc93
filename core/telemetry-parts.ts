// A telemetry window split into parts that each fit one value of a shared store: Consul KV takes
// at most 512 KB per value, and a mesh of a thousand services easily has a few thousand edges
// (about 170 bytes each as JSON).
import type { EdgeReport } from './telemetry.js';

/**
 * Consecutive runs of `edges` whose JSON array each takes at most `maxBytes` (an edge larger than
 * that alone gets a part of its own). Always at least one part, so that an empty window is
 * written as one empty part.
 */
export function partsOfAtMost(edges: readonly EdgeReport[], maxBytes: number): EdgeReport[][] {
  const parts: EdgeReport[][] = [[]];
  let size = 2; // []
  for (const edge of edges) {
    const bytes = Buffer.byteLength(JSON.stringify(edge)) + 1; // and its comma
    const current = parts[parts.length - 1];
    if (current.length > 0 && size + bytes > maxBytes) {
      parts.push([edge]);
      size = 2 + bytes;
    } else {
      current.push(edge);
      size += bytes;
    }
  }
  return parts;
}
