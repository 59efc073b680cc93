// Route regexes on V8's linear-time engine when the backtracking one cannot fall back to it. The
// sidecar runs a match that backtracks too much again on that engine (proxy/main.ts), but the
// engine refuses a pattern whose nested repetitions multiply past 16 (a bounded {n,m} counts m,
// an unbounded one n + 1, `+` 2, `*` 1): `(a{1,30})+` kept backtracking, exponentially, on a
// crafted path. RE2 (Istio's engine) takes such patterns in linear time, so they are not refused;
// each repetition too large is written out as a sequence of smaller ones instead, X{40} as
// X{16}X{16}X{8}, which match the same strings, and the pattern runs on the linear engine only
// (V8's backtracking engine took 54 s to compile one such sequence). Copies of a group that
// captures are written without capturing but for the last (X{n,m} = X'{n-1,m-1}X), so groups keep
// their numbers and the last repetition's text, as a regex rewrite (\1) expects. Pure.
import { classEnd, escapeLength } from './regex-source.js';

/** V8's limit on the product of nested repetitions (experimental engine, kMaxReplicationFactor). */
export const MAX_REPLICATION = 16;
/** Bounds above this are left as written: RE2 refuses them (its limit). */
const MAX_BOUND = 1000;
/**
 * Large repetitions nested in large repetitions multiply when written out (three levels of
 * {0,40}: tens of thousands of pieces); past this length a repetition is left as written, and
 * backtracks as before (docs/security.md).
 */
export const MAX_WRITTEN = 16 * 1024;

/**
 * `source` compiled: on the linear engine when its repetitions had to be written out for it, else
 * as JavaScript compiles it (the backtracking engine, with the sidecar's fallback). A process that
 * has not enabled the linear engine (only mesh-proxy does), or a pattern too large to write out,
 * gets the pattern as written.
 */
export function routeRegExp(source: string, flags = ''): RegExp {
  const written = linearRepetitions(source);
  if (written !== source) {
    try {
      return new RegExp(written, `${flags}l`);
    } catch {
      // No `l` flag here, or still beyond the engine: as written.
    }
  }
  return new RegExp(source, flags);
}

interface Piece {
  /** As written, with its groups. */
  out: string;
  /** Without capturing groups (named ones too): for the copies of a repeated group. */
  stripped: string;
  /** The product of its nested repetitions, as V8 counts it. */
  factor: number;
  /** It can only match the empty string (an empty group, assertions): V8 does not count its repetitions. */
  empty: boolean;
  captures: boolean;
}

const QUANTIFIER = /^(?:\*|\+|\?|\{(\d+)(,(\d*))?\})(\??)/;

/** `source` with every repetition whose nesting multiplies past MAX_REPLICATION written out in smaller pieces; the same strings match. */
export function linearRepetitions(source: string): string {
  const state = { giveUp: false };
  const parsed = sequence(source, 0, state);
  // Unbalanced parentheses: not a pattern JavaScript compiles; left to fail as it would. A
  // repetition too large to write out: the pattern cannot go to the linear engine anyway.
  return parsed.next === source.length && !state.giveUp ? parsed.piece.out : source;
}

interface State {
  /** A repetition too large to write out (MAX_WRITTEN), or a group never closed. */
  giveUp: boolean;
}

/** A sequence of alternatives up to an unmatched `)` or the end. */
function sequence(source: string, start: number, state: State): { piece: Piece; next: number } {
  let out = '';
  let stripped = '';
  let factor = 1;
  let captures = false;
  let empty = true;
  let i = start;
  while (i < source.length && source[i] !== ')') {
    if (source[i] === '|') {
      out += '|';
      stripped += '|';
      i++;
      continue;
    }
    const a = atom(source, i, state);
    const q = QUANTIFIER.exec(source.slice(a.next, a.next + 24));
    const piece = q ? repeat(a.piece, q, state) : a.piece;
    i = a.next + (q ? q[0].length : 0);
    out += piece.out;
    stripped += piece.stripped;
    factor = Math.max(factor, piece.factor);
    captures ||= piece.captures;
    empty &&= piece.empty;
  }
  return { piece: { out, stripped, factor: empty ? 0 : factor, captures, empty }, next: i };
}

/** One atom at `i`: an escape, a class, a group (its inside read as a sequence), or a character. */
function atom(source: string, i: number, state: State): { piece: Piece; next: number } {
  const ch = source[i];
  const plain = (n: number, empty = false) => {
    const text = source.slice(i, i + n);
    return { piece: { out: text, stripped: text, factor: empty ? 0 : 1, captures: false, empty }, next: i + n };
  };
  if (ch === '\\') return plain(escapeLength(source, i), source[i + 1] === 'b' || source[i + 1] === 'B');
  if (ch === '^' || ch === '$') return plain(1, true);
  if (ch === '[') return plain(classEnd(source, i) + 1 - i);
  if (ch !== '(') return plain(1);
  let opening = '(';
  let capturing = true;
  if (source[i + 1] === '?') {
    const named = /^\(\?<[^>=!][^>]*>/.exec(source.slice(i, i + 260));
    if (named) opening = named[0];
    else {
      // (?: and the lookarounds (validation refuses those) capture nothing.
      const m = /^\(\?(?::|=|!|<=|<!)/.exec(source.slice(i, i + 4));
      opening = m ? m[0] : '(?';
      capturing = false;
    }
  }
  const inner = sequence(source, i + opening.length, state);
  if (inner.next >= source.length) state.giveUp = true;
  const close = inner.next < source.length ? ')' : '';
  const piece = {
    out: `${opening}${inner.piece.out}${close}`,
    stripped: `${capturing ? '(?:' : opening}${inner.piece.stripped}${close}`,
    factor: inner.piece.factor,
    captures: capturing || inner.piece.captures,
    empty: inner.piece.empty,
  };
  return { piece, next: inner.next + close.length };
}

/** `x` repeated as the quantifier says: as written when V8's engine takes it, else in pieces. */
function repeat(x: Piece, q: RegExpExecArray, state: State): Piece {
  const lazy = q[4];
  let min: number;
  let max: number;
  if (q[0][0] === '*') [min, max] = [0, Infinity];
  else if (q[0][0] === '+') [min, max] = [1, Infinity];
  else if (q[0][0] === '?') [min, max] = [0, 1];
  else [min, max] = [Number(q[1]), q[2] === undefined ? Number(q[1]) : q[3] === '' ? Infinity : Number(q[3])];
  const local = max === Infinity ? min + 1 : max;
  const written = (p: Piece): Piece => ({ out: p.out + q[0], stripped: p.stripped + q[0], factor: p.factor * local, captures: p.captures, empty: p.empty || max === 0 });
  if (x.factor * local <= MAX_REPLICATION || x.factor > MAX_REPLICATION || min > MAX_BOUND || (max !== Infinity && (max > MAX_BOUND || max < min))) return written(x);
  // Copies that capture nothing; the last repetition is `x` itself when it captures.
  const last = x.captures;
  const copies = last ? { min: Math.max(0, min - 1), max: max - 1 } : { min, max };
  // Repetitions of x per piece: as many as keep a piece within the limit.
  const chunk = Math.max(1, Math.floor(MAX_REPLICATION / x.factor));
  const count = Math.ceil(copies.min / chunk) + (max === Infinity ? 1 : Math.ceil((copies.max - copies.min) / chunk));
  if (count * (x.stripped.length + 10) + x.out.length > MAX_WRITTEN) {
    state.giveUp = true;
    return written(x);
  }
  const body = pieces(x.stripped, chunk, copies.min, copies.max, lazy);
  const ending = (lastCopy: string) => (!last ? body : min > 0 ? `${body}${lastCopy}` : `(?:${body}${lastCopy})?${lazy}`);
  const out = ending(x.out);
  const stripped = ending(x.stripped);
  // Each piece's repetitions times x's: at most the limit (a `*` piece, x's own).
  return { out, stripped, factor: Math.min(MAX_REPLICATION, x.factor * chunk), captures: x.captures, empty: false };
}

/** `text` repeated min to max times, as a sequence of repetitions of at most `chunk` each (which V8's engine takes). */
function pieces(text: string, chunk: number, min: number, max: number, lazy: string): string {
  let out = '';
  for (let left = min; left > 0; left -= chunk) out += `${text}{${Math.min(chunk, left)}}`;
  if (max === Infinity) return `${out}${text}*${lazy}`;
  for (let left = max - min; left > 0; left -= chunk) out += `${text}{0,${Math.min(chunk, left)}}${lazy}`;
  return out;
}
