// HPACK (RFC 7541): header blocks of HTTP/2, one decoder and one encoder per connection and
// direction, each keeping the dynamic table the peer's counterpart keeps. Names and values are
// octets, held as latin1 strings (one character per octet, lossless). Anything a peer sends is
// checked: indexes, lengths, integers, Huffman padding, table size updates; a header list over
// the advertised limit is decoded to its end (the table stays in step) and then refused for its
// stream only.
import { H2ProtocolError } from './errors.js';
import { huffmanDecode, huffmanEncode, huffmanLength } from './huffman.js';
import { STATIC_TABLE } from './hpack-static-table.js';

export interface HeaderField {
  name: string;
  value: string;
  /** Sent "never indexed" (RFC 7541 6.2.3), and to be passed on so: credentials, cookies. */
  sensitive?: boolean;
}

/** RFC 7541 4.1: an entry's size counts 32 octets besides its name and value. */
const ENTRY_OVERHEAD = 32;
/** Integers past this are no header block's: a peer sending one is refused. */
const MAX_INTEGER = 2 ** 28;

/** A dynamic table: the newest entry is index 62 (after the 61 static ones). */
class DynamicTable {
  /** Oldest first. */
  private entries: [string, string][] = [];
  private size = 0;

  constructor(public maxSize: number) {}

  get(dynamicIndex: number): [string, string] | undefined {
    return this.entries[this.entries.length - dynamicIndex];
  }

  get length(): number {
    return this.entries.length;
  }

  add(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    this.size += entrySize;
    this.entries.push([name, value]);
    this.evict();
  }

  resize(maxSize: number): void {
    this.maxSize = maxSize;
    this.evict();
  }

  /** The entries leave oldest first; an entry larger than the table empties it (RFC 7541 4.4). */
  private evict(): void {
    let gone = 0;
    while (this.size > this.maxSize && gone < this.entries.length) {
      const [n, v] = this.entries[gone++];
      this.size -= n.length + v.length + ENTRY_OVERHEAD;
    }
    if (gone > 0) this.entries = this.entries.slice(gone);
  }
}

export interface DecoderOptions {
  /** SETTINGS_HEADER_TABLE_SIZE this side advertised: the most a size update may ask for. */
  maxTableSize?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE this side advertised. */
  maxHeaderListSize?: number;
}

export class HpackDecoder {
  private readonly table: DynamicTable;
  private readonly maxTableSize: number;
  private readonly maxHeaderListSize: number;

  constructor(options: DecoderOptions = {}) {
    this.maxTableSize = options.maxTableSize ?? 4096;
    this.maxHeaderListSize = options.maxHeaderListSize ?? 64 * 1024;
    this.table = new DynamicTable(this.maxTableSize);
  }

  /** One whole header block (HEADERS and its CONTINUATIONs joined). */
  decode(block: Uint8Array): HeaderField[] {
    const fields: HeaderField[] = [];
    let listSize = 0;
    let pos = 0;
    let fieldSeen = false;
    const integer = (prefixBits: number): number => {
      if (pos >= block.length) throw truncated();
      const mask = (1 << prefixBits) - 1;
      let value = block[pos++] & mask;
      if (value < mask) return value;
      let shift = 0;
      for (;;) {
        if (pos >= block.length) throw truncated();
        const b = block[pos++];
        value += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (value > MAX_INTEGER) throw new H2ProtocolError('COMPRESSION_ERROR', `an HPACK integer exceeds ${MAX_INTEGER}`);
        if ((b & 0x80) === 0) return value;
      }
    };
    const string = (): string => {
      if (pos >= block.length) throw truncated();
      const huffman = (block[pos] & 0x80) !== 0;
      const length = integer(7);
      if (pos + length > block.length) throw truncated();
      const raw = block.subarray(pos, pos + length);
      pos += length;
      return (huffman ? huffmanDecode(raw) : Buffer.from(raw.buffer, raw.byteOffset, raw.length)).toString('latin1');
    };
    const entry = (index: number): [string, string] => {
      if (index === 0) throw new H2ProtocolError('COMPRESSION_ERROR', 'an HPACK index of 0');
      if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1] as [string, string];
      const found = this.table.get(index - STATIC_TABLE.length);
      if (!found) throw new H2ProtocolError('COMPRESSION_ERROR', `HPACK index ${index} is past the table (${STATIC_TABLE.length + this.table.length} entries)`);
      return found;
    };
    const emit = (name: string, value: string, sensitive: boolean) => {
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      // Past the limit the block is still decoded to its end, for the table's sake, and kept no more.
      if (listSize > this.maxHeaderListSize) return;
      fields.push(sensitive ? { name, value, sensitive } : { name, value });
    };

    while (pos < block.length) {
      const b = block[pos];
      if (b & 0x80) {
        const [name, value] = entry(integer(7));
        emit(name, value, false);
      } else if (b & 0x40) {
        const index = integer(6);
        const name = index ? entry(index)[0] : string();
        const value = string();
        this.table.add(name, value);
        emit(name, value, false);
      } else if (b & 0x20) {
        if (fieldSeen) throw new H2ProtocolError('COMPRESSION_ERROR', 'an HPACK table size update after a header field');
        const size = integer(5);
        if (size > this.maxTableSize) throw new H2ProtocolError('COMPRESSION_ERROR', `an HPACK table size update to ${size}, over the ${this.maxTableSize} advertised`);
        this.table.resize(size);
        continue;
      } else {
        // Without indexing (0000) or never indexed (0001).
        const sensitive = (b & 0x10) !== 0;
        const index = integer(4);
        const name = index ? entry(index)[0] : string();
        emit(name, string(), sensitive);
      }
      fieldSeen = true;
    }
    if (listSize > this.maxHeaderListSize) throw new H2ProtocolError('PROTOCOL_ERROR', `a header list of ${listSize} bytes, over the ${this.maxHeaderListSize} advertised`, 'stream');
    return fields;
  }
}

function truncated(): H2ProtocolError {
  return new H2ProtocolError('COMPRESSION_ERROR', 'an HPACK header block ends inside a field');
}

/** Names whose values differ on nearly every message: indexing them would only push useful entries out. */
const NOT_INDEXED = new Set(['content-length', 'date', 'etag', 'x-request-id', 'traceparent', 'tracestate', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'grpc-timeout']);
/** Credentials: never indexed, here nor by any intermediary after us (RFC 7541 7.1.3). */
const SENSITIVE = new Set(['authorization', 'proxy-authorization']);

const STATIC_EXACT = new Map<string, number>();
const STATIC_NAME = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], i) => {
  STATIC_EXACT.set(`${name}\0${value}`, i + 1);
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
});

export interface EncoderOptions {
  /** The peer's SETTINGS_HEADER_TABLE_SIZE: the largest table this encoder may use. */
  maxTableSize?: number;
}

export class HpackEncoder {
  /** Insertion number of each entry in the table, by `name\0value` and by name (the latest). */
  private readonly exact = new Map<string, number>();
  private readonly byName = new Map<string, number>();
  /** Entries by insertion number: the oldest kept is `evicted + 1`, the newest `inserted`. */
  private readonly entries: { name: string; value: string; size: number }[] = [];
  private inserted = 0;
  private evicted = 0;
  private size = 0;
  private maxSize: number;
  /** A size change to announce at the start of the next block. */
  private pendingResize: number | undefined;

  constructor(options: EncoderOptions = {}) {
    this.maxSize = Math.min(options.maxTableSize ?? 4096, 4096);
  }

  /** The peer changed SETTINGS_HEADER_TABLE_SIZE: use at most that (this encoder never uses more than 4 KiB). */
  setMaxTableSize(size: number): void {
    const next = Math.min(size, 4096);
    if (next === this.maxSize) return;
    this.maxSize = next;
    this.pendingResize = next;
    this.evictTo(next);
  }

  encode(fields: readonly HeaderField[]): Buffer {
    const out: number[] = [];
    if (this.pendingResize !== undefined) {
      writeInteger(out, 0x20, 5, this.pendingResize);
      this.pendingResize = undefined;
    }
    for (const f of fields) {
      const name = f.name;
      const value = f.value;
      const never = f.sensitive === true || SENSITIVE.has(name);
      const key = `${name}\0${value}`;
      if (!never) {
        const indexed = STATIC_EXACT.get(key) ?? this.dynamicIndex(this.exact.get(key));
        if (indexed !== undefined) {
          writeInteger(out, 0x80, 7, indexed);
          continue;
        }
      }
      const nameIndex = STATIC_NAME.get(name) ?? this.dynamicIndex(this.byName.get(name)) ?? 0;
      const entrySize = name.length + value.length + ENTRY_OVERHEAD;
      if (never) writeInteger(out, 0x10, 4, nameIndex);
      else if (NOT_INDEXED.has(name) || entrySize > this.maxSize) writeInteger(out, 0x00, 4, nameIndex);
      else {
        writeInteger(out, 0x40, 6, nameIndex);
        this.insert(name, value, entrySize);
      }
      if (nameIndex === 0) writeString(out, name);
      writeString(out, value);
    }
    return Buffer.from(out);
  }

  private dynamicIndex(insertion: number | undefined): number | undefined {
    if (insertion === undefined || insertion <= this.evicted) return undefined;
    return STATIC_TABLE.length + (this.inserted - insertion) + 1;
  }

  private insert(name: string, value: string, entrySize: number): void {
    this.evictTo(this.maxSize - entrySize);
    this.inserted++;
    this.entries.push({ name, value, size: entrySize });
    this.size += entrySize;
    this.exact.set(`${name}\0${value}`, this.inserted);
    this.byName.set(name, this.inserted);
  }

  private evictTo(limit: number): void {
    while (this.size > limit && this.entries.length > 0) {
      const { name, value, size } = this.entries.shift()!;
      this.size -= size;
      this.evicted++;
      // Forget the maps' entries only if they still point at the entry leaving.
      const key = `${name}\0${value}`;
      if (this.exact.get(key) === this.evicted) this.exact.delete(key);
      if (this.byName.get(name) === this.evicted) this.byName.delete(name);
    }
  }
}

function writeInteger(out: number[], flags: number, prefixBits: number, value: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/** Huffman when it is shorter, as every HTTP/2 implementation does. */
function writeString(out: number[], text: string): void {
  const bytes = Buffer.from(text, 'latin1');
  const coded = huffmanLength(bytes);
  if (coded < bytes.length) {
    writeInteger(out, 0x80, 7, coded);
    for (const b of huffmanEncode(bytes)) out.push(b);
  } else {
    writeInteger(out, 0x00, 7, bytes.length);
    for (const b of bytes) out.push(b);
  }
}
