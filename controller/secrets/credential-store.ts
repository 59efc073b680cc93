// Gateways' TLS credentials on the shared KvStore (Consul KV, or the data directory's file), so
// that every controller serves them: `secrets/<namespace>/<name>`. Never part of a snapshot or a
// resource listing; a gateway fetches the ones its Gateways name, from its own namespace only
// (controller/api/secrets-api.ts), and `meshctl secret list` shows no key material.
import { MeshError } from '../../core/errors.js';
import { checkTlsCredential, credentialNotFound, type TlsCredential, type TlsCredentialInfo } from '../../core/pki/tls-credential.js';
import type { KvStore } from '../kv/kv-store.js';

const PREFIX = 'secrets/';
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export interface StoredCredential extends TlsCredentialInfo {
  namespace: string;
  name: string;
  type: 'tls';
  /** Changes with every write: a gateway refetches when it sees another. */
  version: number;
}

interface Record_ {
  type: 'tls';
  credential: TlsCredential;
  info: TlsCredentialInfo;
}

export class CredentialStore {
  constructor(private readonly kv: KvStore) {}

  async put(namespace: string, name: string, input: unknown): Promise<StoredCredential> {
    checkName(namespace, 'namespace');
    checkName(name, 'name');
    const { credential, info } = checkTlsCredential(input);
    const version = await this.kv.put(key(namespace, name), JSON.stringify({ type: 'tls', credential, info } satisfies Record_));
    return { namespace, name, type: 'tls', version, ...info };
  }

  async get(namespace: string, name: string): Promise<{ credential: TlsCredential; version: number }> {
    const e = await this.kv.get(key(namespace, name));
    if (!e) throw credentialNotFound(namespace, name);
    return { credential: (JSON.parse(e.value) as Record_).credential, version: e.version };
  }

  async list(namespace?: string): Promise<StoredCredential[]> {
    const entries = await this.kv.list(namespace ? `${PREFIX}${namespace}/` : PREFIX);
    return entries
      .map((e) => {
        const [ns, name] = e.key.slice(e.key.indexOf(PREFIX) + PREFIX.length).split('/');
        const r = JSON.parse(e.value) as Record_;
        return { namespace: ns, name, type: r.type, version: e.version, ...r.info };
      })
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  async delete(namespace: string, name: string): Promise<void> {
    if (!(await this.kv.delete(key(namespace, name)))) throw credentialNotFound(namespace, name);
  }
}

function key(namespace: string, name: string): string {
  return `${PREFIX}${namespace}/${name}`;
}

function checkName(v: string, what: string): void {
  if (!NAME.test(v)) throw new MeshError('INVALID_ARGUMENT', `"${v}" is not a valid ${what}: lowercase letters, digits and "-"`);
}
