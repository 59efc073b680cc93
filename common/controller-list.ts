// Several controllers behind one client, as Consul's clients know several servers: a request goes
// to the controller that last answered; one that cannot be reached, times out, or is draining
// (503) hands the request to the next, each tried at most once per request. What a controller
// refuses on the merits (403, 404, 422) is its answer, not a reason to ask another.
import { MeshError } from '../core/errors.js';

/** `https://a:15012,https://b:15012` (commas or spaces) as a list; a problem names the entry. */
export function parseControllers(text: string): string[] | string {
  const urls = text
    .split(/[\s,]+/)
    .map((u) => u.trim().replace(/\/$/, ''))
    .filter(Boolean);
  if (urls.length === 0) return 'no controller URL given';
  const bad = urls.find((u) => !/^https:\/\/[^/\s]+$/.test(u));
  if (bad) return `"${bad}" is not a controller's https:// URL (e.g. https://127.0.0.1:15012)`;
  return [...new Set(urls)];
}

/** Errors after which the same request goes to the next controller. */
export function isFailover(err: unknown): boolean {
  return err instanceof MeshError && (err.code === 'UNAVAILABLE' || err.code === 'TIMEOUT');
}

export class ControllerList {
  private current = 0;

  constructor(readonly urls: readonly string[]) {
    if (urls.length === 0) throw new MeshError('INVALID_ARGUMENT', 'no controller URL given');
  }

  /** The controller requests go to now. */
  get active(): string {
    return this.urls[this.current];
  }

  /** The controller at `url` failed outside a request (a stream it held broke): the next request goes to the next one. */
  moveOn(url: string): void {
    if (this.urls[this.current] === url) this.current = (this.current + 1) % this.urls.length;
  }

  /** Runs `attempt` against the active controller, then each other one in turn while it fails over. */
  async run<T>(attempt: (baseUrl: string) => Promise<T>): Promise<T> {
    let last: unknown;
    for (let tried = 0; tried < this.urls.length; tried++) {
      const at = this.current;
      try {
        return await attempt(this.urls[at]);
      } catch (err) {
        if (!isFailover(err)) throw err;
        last = err;
        // Another request may have moved on already; only the first to fail moves the pointer.
        if (this.current === at) this.current = (at + 1) % this.urls.length;
      }
    }
    throw last;
  }
}
