// A certificate authority and certificates made by openssl, as an operator makes them for Istio's
// secure-gateway tasks: a CA, server certificates with DNS names, client certificates.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OpensslCa {
  dir: string;
  /** Path of a file in the CA's directory (`ca.pem`, `<name>.pem`, `<name>.key`). */
  path(file: string): string;
  read(file: string): string;
  /** A certificate signed by this CA: `<name>.pem` and `<name>.key`. */
  issue(name: string, opts: { dns?: string[]; uri?: string[]; client?: boolean }): void;
  remove(): void;
}

export function opensslCa(subject = '/CN=test CA'): OpensslCa {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-openssl-ca-'));
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', subject]);
  return {
    dir,
    path: (file) => join(dir, file),
    read: (file) => readFileSync(join(dir, file), 'utf8'),
    issue(name, opts) {
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
      const san = [...(opts.dns ?? []).map((d) => `DNS:${d}`), ...(opts.uri ?? []).map((u) => `URI:${u}`)].join(',');
      writeFileSync(join(dir, `${name}.ext`), `${san ? `subjectAltName=${san}\n` : ''}extendedKeyUsage=${opts.client ? 'clientAuth' : 'serverAuth'}\n`);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`]);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
