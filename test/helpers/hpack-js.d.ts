// The part of hpack.js (no types of its own) the HPACK tests use as an implementation nobody here wrote.
declare module 'hpack.js' {
  interface Options {
    table: { maxSize: number };
  }
  interface Compressor {
    write(headers: { name: string; value: string }[]): void;
    read(): Buffer;
  }
  interface Decompressor {
    write(block: Buffer): void;
    execute(): void;
    read(): { name: string; value: string } | null;
  }
  const hpack: {
    compressor: { create(options: Options): Compressor };
    decompressor: { create(options: Options): Decompressor };
  };
  export default hpack;
}
