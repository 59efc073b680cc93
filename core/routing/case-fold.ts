// A regex source that matches ASCII letters in either case without the `i` flag: V8's
// linear-time engine, which the sidecar falls back to when a match backtracks too much
// (proxy/main.ts), does not take the flag, so a case-insensitive route (ignoreUriCase) would
// keep backtracking on a crafted path. Each letter becomes a class of both cases; a class gets
// the other case of the letters and letter ranges it names. Escapes are kept as written (an
// escaped letter such as \x41 keeps its case), and so are names of groups. Letters outside ASCII
// keep their case (the `i` flag would fold them). Pure.

import { classEnd, escapeLength } from './regex-source.js';

const isLower = (c: number) => c >= 97 && c <= 122;
const isUpper = (c: number) => c >= 65 && c <= 90;
const other = (ch: string) => (isLower(ch.charCodeAt(0)) ? ch.toUpperCase() : isUpper(ch.charCodeAt(0)) ? ch.toLowerCase() : undefined);

/** The other case of the ASCII letters in the range lo-hi, as class items. */
function otherCaseOfRange(lo: number, hi: number): string {
  let out = '';
  for (const [from, to, shift] of [
    [97, 122, -32],
    [65, 90, 32],
  ]) {
    const a = Math.max(lo, from);
    const b = Math.min(hi, to);
    if (a <= b) out += a === b ? String.fromCharCode(a + shift) : `${String.fromCharCode(a + shift)}-${String.fromCharCode(b + shift)}`;
  }
  return out;
}

/** A class's body (between `[` or `[^` and `]`) with the other case of its letters added. */
function foldClass(body: string): string {
  let added = '';
  for (let i = 0; i < body.length;) {
    if (body[i] === '\\') {
      i += escapeLength(body, i);
      continue;
    }
    const ch = body[i];
    // A range of two plain characters.
    if (body[i + 1] === '-' && i + 2 < body.length && body[i + 2] !== '\\') {
      added += otherCaseOfRange(ch.charCodeAt(0), body.charCodeAt(i + 2));
      i += 3;
      continue;
    }
    added += other(ch) ?? '';
    i++;
  }
  return body + added;
}

export function asciiCaseInsensitive(source: string): string {
  let out = '';
  for (let i = 0; i < source.length;) {
    const ch = source[i];
    if (ch === '\\') {
      const n = escapeLength(source, i);
      out += source.slice(i, i + n);
      i += n;
      continue;
    }
    if (ch === '[') {
      const negated = source[i + 1] === '^';
      const j = classEnd(source, i);
      const body = source.slice(i + (negated ? 2 : 1), j);
      out += `[${negated ? '^' : ''}${foldClass(body)}]`;
      i = j + 1;
      continue;
    }
    if (ch === '(' && source.startsWith('(?<', i) && source[i + 3] !== '=' && source[i + 3] !== '!') {
      const end = source.indexOf('>', i);
      if (end !== -1) {
        out += source.slice(i, end + 1);
        i = end + 1;
        continue;
      }
    }
    const flipped = other(ch);
    out += flipped ? `[${ch}${flipped}]` : ch;
    i++;
  }
  return out;
}
