// The controller's shared state (resources, CA roots, token signing key) sits behind this small
// interface: a file in the data directory for a single controller, Consul's KV store when several
// controllers share a mesh. test/integration/kv-store.contract.ts runs against both.

export interface KvEntry {
  key: string;
  value: string;
  /** Changes on every write; Consul's ModifyIndex, or a counter in the file store. */
  version: number;
}

export interface KvStore {
  /** Connects and loads; resolves when reads will answer. */
  start(): Promise<void>;
  get(key: string): Promise<KvEntry | undefined>;
  list(prefix: string): Promise<KvEntry[]>;
  /**
   * Writes a value. With `expectedVersion` the write happens only if the current version is that
   * (0: only if the key does not exist), else it fails with CONFLICT. Returns the new version.
   */
  put(key: string, value: string, expectedVersion?: number): Promise<number>;
  /** Deletes a key; with `expectedVersion`, only at that version (else CONFLICT). False if absent. */
  delete(key: string, expectedVersion?: number): Promise<boolean>;
  /** Calls `onChange` with the full contents under `prefix` now and whenever they change, from any writer. */
  watch(prefix: string, onChange: (entries: KvEntry[]) => void): () => void;
  /** True while the backend answers. */
  healthy(): boolean;
  close(): Promise<void>;
}
