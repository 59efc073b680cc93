// Who may call the API: admins (a bearer token created at first start, stored 0600 in the data
// directory; its hash is shared through the KvStore so every controller accepts it), host agents
// (tokens made by an admin, kept the same way, good for minting bootstrap tokens and registering
// instances only) and workloads (a certificate from this CA, presented over mTLS). Bootstrap
// tokens are signed with a key shared the same way.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshError } from '../../core/errors.js';
import type { KvStore } from '../kv/kv-store.js';

const TOKEN_KEY = 'auth/bootstrap-signing-key';
const ADMIN_PREFIX = 'auth/admin-tokens/';
const AGENT_PREFIX = 'auth/agent-tokens/';
export const AGENT_TOKEN_FILE = 'agent-token';
export const ADMIN_TOKEN_FILE = 'admin-token';

export class Credentials {
  private adminHashes = new Set<string>();
  /** Hash of each agent token -> the host it was made for. */
  private agentHashes = new Map<string, string>();
  private signingKey: Buffer | undefined;
  private stopWatch: (() => void) | undefined;
  /** The admin token this controller knows in plain text (from its data directory). */
  adminToken = '';

  constructor(
    private readonly kv: KvStore,
    private readonly dataDir: string,
    private readonly givenAdminToken?: string,
  ) {}

  async start(): Promise<void> {
    this.signingKey = Buffer.from(await this.createOnce(TOKEN_KEY, () => randomBytes(32).toString('base64')), 'base64');
    this.adminToken = this.givenAdminToken ?? (await this.localAdminToken());
    const hash = sha256(this.adminToken);
    if (!(await this.kv.get(ADMIN_PREFIX + hash))) await this.kv.put(ADMIN_PREFIX + hash, new Date().toISOString());
    for (const e of await this.kv.list(ADMIN_PREFIX)) this.adminHashes.add(e.key.slice(ADMIN_PREFIX.length));
    const stopAdmins = this.kv.watch(ADMIN_PREFIX, (entries) => {
      this.adminHashes = new Set(entries.map((e) => e.key.slice(ADMIN_PREFIX.length)));
    });
    for (const e of await this.kv.list(AGENT_PREFIX)) this.agentHashes.set(e.key.slice(AGENT_PREFIX.length), e.value);
    const stopAgents = this.kv.watch(AGENT_PREFIX, (entries) => {
      this.agentHashes = new Map(entries.map((e) => [e.key.slice(AGENT_PREFIX.length), e.value]));
    });
    this.stopWatch = () => {
      stopAdmins();
      stopAgents();
    };
  }

  /** A new host agent token; only its hash is kept (in the KV, so every controller accepts it). */
  async createAgentToken(host: string): Promise<string> {
    const token = `mag1.${randomBytes(24).toString('base64url')}`;
    await this.adoptAgentToken(token, host);
    return token;
  }

  /** Accepts a token made earlier (e.g. kept in a shared directory) for `host`. */
  async adoptAgentToken(token: string, host: string): Promise<void> {
    const h = sha256(token);
    if (!(await this.kv.get(AGENT_PREFIX + h))) await this.kv.put(AGENT_PREFIX + h, host);
    this.agentHashes.set(h, host);
  }

  /** Revokes every agent token made for `host`; returns how many there were. */
  async revokeAgentTokens(host: string): Promise<number> {
    const mine = (await this.kv.list(AGENT_PREFIX)).filter((e) => e.value === host);
    for (const e of mine) {
      await this.kv.delete(e.key);
      this.agentHashes.delete(e.key.slice(AGENT_PREFIX.length));
    }
    return mine.length;
  }

  /** The host an agent token was made for, or undefined. */
  agentHost(token: string): string | undefined {
    return this.agentHashes.get(sha256(token));
  }

  isAdminToken(token: string): boolean {
    const h = sha256(token);
    for (const known of this.adminHashes) {
      if (known.length === h.length && timingSafeEqual(Buffer.from(known), Buffer.from(h))) return true;
    }
    return false;
  }

  bootstrapKey(): Buffer {
    if (!this.signingKey) throw new MeshError('UNAVAILABLE', 'credentials have not started');
    return this.signingKey;
  }

  async close(): Promise<void> {
    this.stopWatch?.();
  }

  private async localAdminToken(): Promise<string> {
    const path = join(this.dataDir, ADMIN_TOKEN_FILE);
    try {
      return (await readFile(path, 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const token = `mat1.${randomBytes(24).toString('base64url')}`;
      await mkdir(this.dataDir, { recursive: true });
      await writeFile(path, `${token}\n`, { mode: 0o600 });
      return token;
    }
  }

  private async createOnce(key: string, make: () => string): Promise<string> {
    const existing = await this.kv.get(key);
    if (existing) return existing.value;
    try {
      await this.kv.put(key, make(), 0);
    } catch (err) {
      if (!(err instanceof MeshError && err.code === 'CONFLICT')) throw err;
    }
    return (await this.kv.get(key))!.value;
  }
}

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
