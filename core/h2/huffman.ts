// HPACK's static Huffman code (RFC 7541 Appendix B). The code is canonical, so each symbol's
// length is all it takes to rebuild every code: CODE_LENGTHS holds them for symbols 0-255 and
// EOS (256), one letter each, 'A' for 5 bits through 'Z' for 30.
import { H2ProtocolError } from './errors.js';

const CODE_LENGTHS =
  'ISXXXXXXXTZXXZXXXXXXXXZXXXXXXXXXBFFHIBDGFFDGDBBBAAABBBBBBBCDKBHFIBCCCCCCCCCCCCCCCCCCCCCCDCDIOIJBKABABABBBACCBBBABCBAABCCCCCKGJIXPRPPRRRSRSSSSSTSTTRSTSSSSQRSRSSTRQPRRSSQSRRTQRSSQQRQSRSSPRRRSRRSVVPORSRUVVVWWVTUOQVWWVWTQQVVXWWWPTPQRQQSRRUUTTVSVWVVWWWWWXWWWWWVZ';
const EOS = 256;

const lengths = Uint8Array.from(CODE_LENGTHS, (c) => c.charCodeAt(0) - 60);
/** Each symbol's code, right-aligned. */
const codes = new Uint32Array(257);
/** Canonical decoding: per length, the first code, how many codes, and where their symbols start in `symbols`. */
const firstCode = new Int32Array(31);
const countOf = new Int32Array(31);
const firstIndex = new Int32Array(31);
const symbols = new Uint16Array(257);
{
  const order = [...Array(257).keys()].sort((a, b) => lengths[a] - lengths[b] || a - b);
  let code = 0;
  let length = lengths[order[0]];
  order.forEach((symbol, i) => {
    if (i > 0) code = (code + 1) * 2 ** (lengths[symbol] - length);
    length = lengths[symbol];
    codes[symbol] = code;
    symbols[i] = symbol;
    if (countOf[length]++ === 0) {
      firstCode[length] = code;
      firstIndex[length] = i;
    }
  });
}

/** The encoded length in bytes of `bytes`, to choose between Huffman and the literal. */
export function huffmanLength(bytes: Uint8Array): number {
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) bits += lengths[bytes[i]];
  return (bits + 7) >> 3;
}

export function huffmanEncode(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(huffmanLength(bytes));
  let pos = 0;
  let acc = 0;
  let bits = 0;
  const put = (value: number, n: number) => {
    acc = (acc << n) | value;
    bits += n;
    while (bits >= 8) {
      bits -= 8;
      out[pos++] = (acc >>> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  };
  for (let i = 0; i < bytes.length; i++) {
    const n = lengths[bytes[i]];
    const code = codes[bytes[i]];
    // At most 7 bits wait in `acc`: codes over 24 bits go in two parts to stay within 31.
    if (n > 24) {
      put(code >>> 16, n - 16);
      put(code & 0xffff, 16);
    } else put(code, n);
  }
  // Padding: the most significant bits of EOS, all ones.
  if (bits > 0) out[pos++] = ((acc << (8 - bits)) | (0xff >> bits)) & 0xff;
  return out;
}

/** Decodes a Huffman string; a code past the end, EOS inside, or padding other than up to seven one-bits is a COMPRESSION_ERROR. */
export function huffmanDecode(input: Uint8Array): Buffer {
  // No symbol is shorter than 5 bits: the output is at most 8/5 of the input.
  const out = Buffer.allocUnsafe(Math.ceil((input.length * 8) / 5));
  let pos = 0;
  let code = 0;
  let length = 0;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i];
    for (let b = 7; b >= 0; b--) {
      code = code * 2 + ((byte >> b) & 1);
      length++;
      if (length < 5) continue;
      const offset = code - firstCode[length];
      if (countOf[length] > 0 && offset >= 0 && offset < countOf[length]) {
        const symbol = symbols[firstIndex[length] + offset];
        if (symbol === EOS) throw new H2ProtocolError('COMPRESSION_ERROR', 'a Huffman-coded string contains EOS');
        out[pos++] = symbol;
        code = 0;
        length = 0;
      } else if (length >= 30) throw new H2ProtocolError('COMPRESSION_ERROR', 'a Huffman-coded string has no valid code');
    }
  }
  // What is left must be a prefix of EOS (all ones) of at most seven bits.
  if (length > 7) throw new H2ProtocolError('COMPRESSION_ERROR', 'a Huffman-coded string ends in more than seven bits of padding');
  if (code !== (1 << length) - 1) throw new H2ProtocolError('COMPRESSION_ERROR', 'a Huffman-coded string is padded with other than one-bits');
  return out.subarray(0, pos);
}
