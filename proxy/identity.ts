// The sidecar's identity: its key is made here and never leaves the process; the certificate
// comes from the controller (bootstrap token first, then renewal with the current certificate
// over mTLS at half its lifetime). Certificate and key are kept on disk (key 0600) so that a
// restart while the controller is down still serves mTLS.
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshError } from '../core/errors.js';
import { generateKeyPair, signerFor } from '../core/pki/keys.js';
import { certificateInfo } from '../core/pki/certificate-info.js';
import { buildCsr } from '../core/pki/csr.js';
import type { ControllerClient } from './controller-client.js';

export interface IdentityMaterial {
  certPem: string;
  keyPem: string;
  trustBundle: string[];
  identity: string;
  notAfter: Date;
}

export interface IdentityOptions {
  dataDir: string;
  /** Expected SPIFFE ID; a stored certificate for another identity is not used. */
  expectedIdentity: string;
  bootstrapToken?: string;
  /** Renew when this fraction of the lifetime has passed. */
  renewAt: number;
  retryMs: number;
}

export class IdentityManager extends EventEmitter {
  private material: IdentityMaterial | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly client: ControllerClient,
    private readonly options: IdentityOptions,
  ) {
    super();
  }

  get current(): IdentityMaterial {
    if (!this.material) throw new MeshError('UNAVAILABLE', 'the sidecar has no certificate yet');
    return this.material;
  }

  /** Loads the stored certificate, or obtains one. Resolves once there is a usable certificate. */
  async start(): Promise<void> {
    this.material = await this.load();
    if (!this.material) {
      await this.obtain();
    } else {
      this.client.setCredentials({ cert: this.material.certPem, key: this.material.keyPem }, this.material.trustBundle.join(''));
      this.schedule();
    }
  }

  /** A root rotation reached us through the snapshot: trust it at once. */
  updateTrustBundle(bundle: string[]): void {
    if (!this.material || bundle.join('') === this.material.trustBundle.join('')) return;
    this.material = { ...this.material, trustBundle: bundle };
    this.client.setCredentials({ cert: this.material.certPem, key: this.material.keyPem }, bundle.join(''));
    void this.persist();
    this.emit('change', this.material);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async obtain(): Promise<void> {
    const key = generateKeyPair();
    const csr = buildCsr(key.spkiDer, { uris: [this.options.expectedIdentity] }, signerFor(key.privateKey));
    const renewal = Boolean(this.material);
    if (!renewal && !this.options.bootstrapToken)
      throw new MeshError('UNAUTHENTICATED', 'the sidecar has no certificate and no bootstrap token; pass --bootstrap-token (meshctl token create --service NAME)');
    const res = await this.client.request('POST', '/v1/ca/sign', { csr }, renewal ? {} : { token: this.options.bootstrapToken });
    const body = JSON.parse(res.body) as { certificate: string; trustBundle: string[] };
    const info = certificateInfo(body.certificate);
    const material = { certPem: body.certificate, keyPem: key.privateKeyPem, trustBundle: body.trustBundle, identity: info.uris[0], notAfter: info.notAfter };
    // Stored first, then made current and handed to the listeners in one step: `current` (what
    // /certs shows) never names a certificate the listeners do not serve yet.
    await this.persist(material);
    this.material = material;
    this.client.setCredentials({ cert: body.certificate, key: key.privateKeyPem }, body.trustBundle.join(''));
    this.schedule();
    this.emit('change', this.material);
  }

  private schedule(): void {
    if (this.closed || !this.material) return;
    clearTimeout(this.timer);
    // The fraction of the validity left from now, when the certificate was obtained or loaded;
    // not from notBefore, which the CA backdates against clock skew: with a short lifetime that
    // would put the renewal in the past, and every new certificate would be renewed at once.
    const due = (this.material.notAfter.getTime() - Date.now()) * this.options.renewAt;
    this.timer = setTimeout(() => this.renew(), Math.max(0, Math.min(due, 2 ** 31 - 1)));
    this.timer.unref();
  }

  private renew(): void {
    this.obtain().catch((err: unknown) => {
      this.emit('error', err);
      if (this.closed) return;
      // Keep the current certificate and try again soon; it is still valid for a while.
      this.timer = setTimeout(() => this.renew(), this.options.retryMs);
      this.timer.unref();
    });
  }

  private async load(): Promise<IdentityMaterial | undefined> {
    try {
      const [certPem, keyPem, bundle] = await Promise.all(['cert.pem', 'key.pem', 'trust-bundle.json'].map((f) => readFile(join(this.options.dataDir, f), 'utf8')));
      const info = certificateInfo(certPem);
      if (info.notAfter.getTime() <= Date.now() || info.uris[0] !== this.options.expectedIdentity) return undefined;
      return { certPem, keyPem, trustBundle: JSON.parse(bundle) as string[], identity: info.uris[0], notAfter: info.notAfter };
    } catch {
      return undefined;
    }
  }

  private async persist(material = this.material): Promise<void> {
    if (!material) return;
    await mkdir(this.options.dataDir, { recursive: true, mode: 0o700 });
    const write = async (name: string, text: string, mode: number) => {
      const path = join(this.options.dataDir, name);
      await writeFile(`${path}.tmp`, text, { mode });
      await rename(`${path}.tmp`, path);
    };
    await write('key.pem', material.keyPem, 0o600);
    await write('cert.pem', material.certPem, 0o644);
    await write('trust-bundle.json', JSON.stringify(material.trustBundle), 0o644);
  }
}
