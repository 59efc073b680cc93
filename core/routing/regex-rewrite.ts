// VirtualService rewrite.uriRegexRewrite, as Envoy's route regex_rewrite does it: every
// non-overlapping match of the pattern in the path (the query string is left alone) is replaced
// by the rewrite, in which \1 to \9 stand for the pattern's groups, \0 for the whole match and \\
// for a backslash (RE2's rewrite syntax). Anything else is literal, `$` included.
import { re2Problem } from '../resources/re2-syntax.js';

/** Why the rewrite cannot be used with this pattern (a bad escape, a group it does not have), or undefined. */
export function rewriteProblem(pattern: string, rewrite: string): string | undefined {
  let groups: number;
  try {
    groups = new RegExp(`${pattern}|`).exec('')!.length - 1;
  } catch (err) {
    return `the pattern is not a valid regular expression: ${(err as Error).message}`;
  }
  const notRe2 = re2Problem(pattern);
  if (notRe2) return `the pattern ${notRe2}`;
  for (let i = 0; i < rewrite.length; i++) {
    if (rewrite[i] !== '\\') continue;
    const next = rewrite[++i];
    if (next === '\\') continue;
    if (next === undefined || !/[0-9]/.test(next)) return `"\\${next ?? ''}" is not a rewrite escape: use \\0 to \\9 for the match and its groups, \\\\ for a backslash`;
    if (Number(next) > groups) return `\\${next} names group ${next}, but the pattern has ${groups} group${groups === 1 ? '' : 's'}`;
  }
  return undefined;
}

const patterns = new Map<string, RegExp>();

/** The path with every match of `pattern` replaced by `rewrite` (checked by rewriteProblem first). */
export function regexRewrite(path: string, pattern: string, rewrite: string): string {
  let re = patterns.get(pattern);
  if (re === undefined) {
    re = new RegExp(pattern, 'g');
    if (patterns.size > 1000) patterns.clear();
    patterns.set(pattern, re);
  }
  re.lastIndex = 0;
  return path.replace(re, (...args: unknown[]) => {
    // replace() passes the match, its groups, then the offset, the whole string and (with named groups) an object.
    const end = args.findIndex((a) => typeof a === 'number');
    const parts = args.slice(0, end) as (string | undefined)[];
    let out = '';
    for (let i = 0; i < rewrite.length; i++) {
      const ch = rewrite[i];
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      const next = rewrite[++i];
      out += next === '\\' ? '\\' : (parts[Number(next)] ?? '');
    }
    return out;
  });
}
