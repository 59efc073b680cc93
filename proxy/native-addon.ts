// The sidecar's native pieces (native/*.c, built into dist/native by scripts/build-native.sh):
// loaded on first use, and when one cannot be (no C compiler at build time), why, with what the
// sidecar does without it.
import { createRequire } from 'node:module';

export interface NativeAddon<T> {
  /** The addon, or undefined when it could not be loaded. */
  get(): T | undefined;
  /** Why it could not be loaded, or undefined when it works. */
  missing(): string | undefined;
}

export function nativeAddon<T>(name: string, without: string): NativeAddon<T> {
  const file = `../native/${name}.node`;
  let native: T | undefined;
  let missing: string | undefined;
  const load = (): void => {
    if (native || missing) return;
    try {
      native = createRequire(import.meta.url)(file) as T;
    } catch (err) {
      missing = `${new URL(file, import.meta.url).pathname} could not be loaded (${(err as Error).message.split('\n')[0]}); ${without}; run scripts/build-native.sh with a C compiler installed`;
    }
  };
  return {
    get: () => (load(), native),
    missing: () => (load(), missing),
  };
}

/** libuv's descriptor of a connected socket (TLS sockets expose their TCP one): not a documented API, but stable since Node 0.x. */
export function socketFd(socket: object): number | undefined {
  const fd = (socket as { _handle?: { fd?: number } })._handle?.fd;
  return fd !== undefined && fd >= 0 ? fd : undefined;
}
