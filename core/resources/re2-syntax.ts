// Istio's regexes are RE2's (Envoy matches with RE2, and Istio validates with Go's regexp, the
// same syntax). JavaScript's are a superset: backreferences and lookarounds are JavaScript's
// only, and with them V8 must backtrack, where a crafted input can take exponential time (the
// sidecar's fallback to V8's linear engine, proxy/main.ts, cannot take such a pattern). So a
// pattern that uses them is refused, as Istio refuses it. Pure: a scan of the pattern's source.
import { classEnd, escapeLength } from '../routing/regex-source.js';

/** What RE2 would not accept in this JavaScript regex source (the first such construct), or undefined. */
export function re2Problem(source: string): string | undefined {
  for (let i = 0; i < source.length;) {
    const ch = source[i];
    if (ch === '\\') {
      const next = source[i + 1] ?? '';
      if (/[1-9]/.test(next)) return `uses a backreference (\\${next}), which RE2 (Istio's regex syntax) does not have`;
      if (next === 'k' && source[i + 2] === '<') return "uses a named backreference (\\k<...>), which RE2 (Istio's regex syntax) does not have";
      i += escapeLength(source, i);
      continue;
    }
    // Inside a class, `\1` or `(?=` are only characters.
    if (ch === '[') {
      i = classEnd(source, i) + 1;
      continue;
    }
    if (ch === '(' && source[i + 1] === '?') {
      const kind = source.slice(i + 2, i + 4);
      if (kind[0] === '=' || kind[0] === '!') return `uses a lookahead ((?${kind[0]}...)), which RE2 (Istio's regex syntax) does not have`;
      if (kind === '<=' || kind === '<!') return `uses a lookbehind ((?${kind}...)), which RE2 (Istio's regex syntax) does not have`;
    }
    i++;
  }
  return undefined;
}
