// VirtualService rewrite.uriRegexRewrite, as Envoy's route regex_rewrite does it: every
// non-overlapping match of the pattern in the path (the query string is left alone) is replaced
// by the rewrite, in which \1 to \9 stand for the pattern's groups, \0 for the whole match and \\
// for a backslash (RE2's rewrite syntax). Anything else is literal, `$` included.
import { re2Problem } from '../resources/re2-syntax.js';
import { routeRegExp } from './linear-repetition.js';

/** Why the rewrite cannot be used with this pattern (a bad escape, a group it does not have), or undefined. */
export function rewriteProblem(pattern: string, rewrite: string): string | undefined {
  let groups: number;
  try {
    // The empty alternative first, so that it matches at once and the pattern itself never runs
    // here (the controller validates what callers send; what a pattern does is not for it to find out).
    groups = new RegExp(`|${pattern}`).exec('')!.length - 1;
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

/** A route's rewrite, read once: its pattern compiled, its rewrite as literal text and group numbers. */
interface Compiled {
  re: RegExp;
  pieces: (string | number)[];
}

const compiled = new Map<string, Compiled>();

function compile(pattern: string, rewrite: string): Compiled {
  const pieces: (string | number)[] = [];
  let text = '';
  for (let i = 0; i < rewrite.length; i++) {
    if (rewrite[i] !== '\\') text += rewrite[i];
    else if (rewrite[++i] === '\\') text += '\\';
    else {
      pieces.push(text, Number(rewrite[i]));
      text = '';
    }
  }
  pieces.push(text);
  return { re: routeRegExp(pattern, 'g'), pieces };
}

/** The path with every match of `pattern` replaced by `rewrite` (checked by rewriteProblem first). */
export function regexRewrite(path: string, pattern: string, rewrite: string): string {
  const key = `${pattern}\u0000${rewrite}`;
  let c = compiled.get(key);
  if (c === undefined) {
    c = compile(pattern, rewrite);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(key, c);
  }
  const { re, pieces } = c;
  re.lastIndex = 0;
  return path.replace(re, (...args: unknown[]) => {
    // replace() passes the match, its groups, then the offset, the whole string and (with named groups) an object.
    let out = '';
    for (const p of pieces) out += typeof p === 'string' ? p : typeof args[p] === 'string' ? args[p] : '';
    return out;
  });
}
