// undici serves Node's HTTP path only (requests the relay hands over, upgrades aside). Loading
// it adds about 20 MB to a sidecar's resident memory, so it is loaded on first use: a sidecar
// whose traffic all goes through the relay never pays for it.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

let loaded: typeof Undici | undefined;

export function undici(): typeof Undici {
  loaded ??= createRequire(import.meta.url)('undici') as typeof Undici;
  return loaded;
}
