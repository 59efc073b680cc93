// KvStore in one JSON file, written atomically (temp file + rename) so that a crash never leaves
// half a file. For a single controller on the embedded default.
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeshError } from '../../core/errors.js';
import type { KvEntry, KvStore } from './kv-store.js';

interface FileShape {
  index: number;
  entries: Record<string, { value: string; version: number }>;
}

export class FileKvStore implements KvStore {
  private data: FileShape = { index: 0, entries: {} };
  private readonly events = new EventEmitter();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {
    this.events.setMaxListeners(0);
  }

  async start(): Promise<void> {
    try {
      const parsed = JSON.parse(await readFile(this.path, 'utf8')) as FileShape;
      if (typeof parsed.index !== 'number' || typeof parsed.entries !== 'object') throw new Error('unexpected shape');
      this.data = parsed;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new MeshError('INTERNAL', `cannot read the state file ${this.path}: ${(err as Error).message}; move it aside to start empty`, { cause: err });
      await mkdir(dirname(this.path), { recursive: true });
    }
  }

  async get(key: string): Promise<KvEntry | undefined> {
    const e = this.data.entries[key];
    return e ? { key, ...e } : undefined;
  }

  async list(prefix: string): Promise<KvEntry[]> {
    return Object.entries(this.data.entries)
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, e]) => ({ key, ...e }));
  }

  async put(key: string, value: string, expectedVersion?: number): Promise<number> {
    this.checkVersion(key, expectedVersion);
    const version = ++this.data.index;
    this.data.entries[key] = { value, version };
    await this.persist(key);
    return version;
  }

  async delete(key: string, expectedVersion?: number): Promise<boolean> {
    if (!this.data.entries[key]) {
      if (expectedVersion !== undefined && expectedVersion !== 0) throw conflict(key, expectedVersion, 0);
      return false;
    }
    this.checkVersion(key, expectedVersion);
    delete this.data.entries[key];
    this.data.index++;
    await this.persist(key);
    return true;
  }

  watch(prefix: string, onChange: (entries: KvEntry[]) => void): () => void {
    const listener = (key: string) => {
      if (key.startsWith(prefix)) void this.list(prefix).then(onChange);
    };
    this.events.on('change', listener);
    void this.list(prefix).then(onChange);
    return () => this.events.off('change', listener);
  }

  healthy(): boolean {
    return true;
  }

  async close(): Promise<void> {
    await this.writing;
    this.events.removeAllListeners();
  }

  private checkVersion(key: string, expected: number | undefined): void {
    if (expected === undefined) return;
    const current = this.data.entries[key]?.version ?? 0;
    if (current !== expected) throw conflict(key, expected, current);
  }

  private async persist(changedKey: string): Promise<void> {
    // Writes are serialised; each writes the whole (small) state.
    const snapshot = JSON.stringify(this.data);
    this.writing = this.writing.then(async () => {
      const tmp = `${this.path}.tmp`;
      await writeFile(tmp, snapshot, { mode: 0o600 });
      await rename(tmp, this.path);
    });
    await this.writing;
    this.events.emit('change', changedKey);
  }
}

export function conflict(key: string, expected: number, current: number): MeshError {
  return new MeshError(
    'CONFLICT',
    current === 0
      ? `${key} does not exist (expected version ${expected})`
      : expected === 0
        ? `${key} already exists`
        : `${key} was changed by someone else (version ${current}, expected ${expected}); read it again and retry`,
    {
      details: { key, expectedVersion: expected, currentVersion: current },
    },
  );
}
