// The URI names of a TLS connection's peer certificate, read once per connection: the certificate
// cannot change while the connection lives (the servers refuse renegotiation where it matters),
// and getPeerCertificate() builds an object from the X.509 on every call (15 us here).
import type { TLSSocket } from 'node:tls';
import { uriSans } from '../core/pki/spiffe.js';

const read = new WeakMap<TLSSocket, string[]>();

export function peerUris(socket: TLSSocket): string[] {
  let uris = read.get(socket);
  if (!uris) {
    uris = uriSans(socket.getPeerCertificate?.()?.subjectaltname);
    read.set(socket, uris);
  }
  return uris;
}
