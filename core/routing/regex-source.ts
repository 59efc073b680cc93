// Reading a JavaScript regex's source as its parser does, for the two checks that walk it
// (core/resources/re2-syntax.ts, core/routing/case-fold.ts): how far an escape reaches, and where
// a character class ends. Pure.

/** How many characters the escape at `i` (a backslash) spans: \xHH, \uHHHH, \cX, or a backslash and one character. */
export function escapeLength(source: string, i: number): number {
  const next = source[i + 1];
  if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(source.slice(i + 2, i + 4))) return 4;
  if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(source.slice(i + 2, i + 6))) return 6;
  if (next === 'c' && /^[A-Za-z]$/.test(source[i + 2] ?? '')) return 3;
  return Math.min(2, source.length - i);
}

/** The index of the `]` that closes the class opened at `i` (a `[`), or source.length when none does. A `]` first in a class is a character. */
export function classEnd(source: string, i: number): number {
  let j = i + 1;
  if (source[j] === '^') j++;
  if (source[j] === ']') j++;
  while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? escapeLength(source, j) : 1;
  return j;
}
