// One HTTP/1.1 header line, read in place from a head decoded as latin1 (one char per byte):
// a token name, a colon, optional whitespace, a value of visible ASCII, space, tab or obs-text,
// optional whitespace. The same grammar as HEADER_LINE, scanned char by char: the readers run
// for every request and answer the relay carries, and splitting the head into lines and running
// a regular expression on each cost them about twice this.

/** tchar (RFC 9110 5.6.2): 1 for the characters a token (a header name, a chunk extension's name) may hold. */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;

/** 1 for the characters a field value may hold: tab, visible ASCII, space, obs-text. Never CR, LF, NUL or another control. */
const FIELD = new Uint8Array(256);
FIELD[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD[c] = 1;

/** Where the last line read by `readHeaderLine` holds its parts; reused, as the readers are synchronous. */
export interface HeaderLine {
  /** The name, lower-case (HTTP/1.1 names are case-insensitive). */
  name: string;
  /** The value without the whitespace around it. */
  value: string;
  /** Where the next line starts: after this line's CRLF, or the end of the head. */
  next: number;
}

/**
 * Reads the header line at `start` of `text`, which ends at `end` (the head's final CRLF CRLF
 * is not part of it). False when the line breaks the grammar, a bare CR or LF included.
 */
export function readHeaderLine(text: string, start: number, end: number, out: HeaderLine): boolean {
  let i = start;
  let upper = false;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (TOKEN[c] !== 1) break;
    if (c <= 0x5a && c >= 0x41) upper = true;
  }
  if (i === start || i === end || text.charCodeAt(i) !== 0x3a) return false;
  const name = text.slice(start, i);
  i++;
  while (i < end && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09)) i++;
  const valueStart = i;
  let valueEnd = i;
  let next = end;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (FIELD[c] !== 1) {
      if (c === 0x0d && i + 1 < end && text.charCodeAt(i + 1) === 0x0a) {
        next = i + 2;
        break;
      }
      return false;
    }
    if (c !== 0x20 && c !== 0x09) valueEnd = i + 1;
  }
  out.name = upper ? name.toLowerCase() : name;
  out.value = text.slice(valueStart, valueEnd);
  out.next = next;
  return true;
}

/** A reusable HeaderLine. */
export function headerLine(): HeaderLine {
  return { name: '', value: '', next: 0 };
}
