import { MeshError } from './errors.js';

// Istio durations are protobuf Duration strings in YAML: "1s", "0.5s", "250ms", "1m", "1h".
// We accept the units Istio users write and reject everything else with a reason.
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/;

/** Returns milliseconds, or a message saying why the text is not a duration. */
export function parseDurationMs(text: unknown): number | string {
  if (typeof text !== 'string') return 'must be a duration string such as "1s" or "250ms"';
  const m = DURATION_RE.exec(text.trim());
  if (!m) return `"${text}" is not a duration; write a number with a unit: ns, us, ms, s, m or h (e.g. "1.5s")`;
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** A duration given as a command-line flag: milliseconds, or the problem naming the flag (a bare number is told its unit). */
export function parseDurationFlag(flag: string, text: string): number | string {
  const r = parseDurationMs(text);
  if (typeof r !== 'string') return r;
  const bare = /^\d+(\.\d+)?$/.test(text.trim());
  return `--${flag}: ${r}${bare ? ` (durations carry their unit: "${text.trim()}s" for seconds)` : ''}`;
}

export function durationMs(text: string, what: string): number {
  const r = parseDurationMs(text);
  if (typeof r === 'string') throw new MeshError('INVALID_ARGUMENT', `${what}: ${r}`);
  return r;
}

export function formatDurationMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
