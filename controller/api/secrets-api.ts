// Gateways' TLS credentials (Istio's credentialName secrets): written and listed by an admin
// (`meshctl secret`), read by a gateway proxy over mTLS, in its own namespace only, as Istio's
// gateways read the secrets of theirs. The key never leaves through any other route.
import { MeshError } from '../../core/errors.js';
import { isPlainObject } from '../../core/resources/schema.js';
import type { CredentialStore } from '../secrets/credential-store.js';
import type { Router } from './router.js';

export function registerSecretRoutes(router: Router, store: CredentialStore): void {
  router.add('POST', '/v1/secrets', 'admin', async (ctx) => {
    const body = await ctx.json();
    if (!isPlainObject(body) || typeof body.name !== 'string') throw new MeshError('INVALID_ARGUMENT', 'send {"name", "namespace", "type": "tls", "cert", "key", "ca"?}: PEM text');
    if (body.type !== undefined && body.type !== 'tls')
      throw new MeshError('INVALID_ARGUMENT', `type "${String(body.type)}" is not supported: only "tls" (a certificate, its key, and optionally a CA bundle)`);
    const namespace = typeof body.namespace === 'string' ? body.namespace : 'default';
    return { status: 201, body: await store.put(namespace, body.name, body) };
  });

  router.add('GET', '/v1/secrets', 'admin', async (ctx) => ({ body: { items: await store.list(ctx.query.get('namespace') ?? undefined) } }));

  router.add('DELETE', '/v1/secrets/:namespace/:name', 'admin', async (ctx) => {
    await store.delete(ctx.params[0], ctx.params[1]);
    return { body: { deleted: `${ctx.params[0]}/${ctx.params[1]}` } };
  });

  router.add('GET', '/v1/gateway-credentials/:namespace/:name', 'workload', async (ctx) => {
    const [namespace, name] = ctx.params;
    const p = ctx.principal;
    if (p.kind === 'workload' && p.namespace !== namespace)
      throw new MeshError('PERMISSION_DENIED', `${p.identity} may read the TLS credentials of namespace ${p.namespace} only, not ${namespace}/${name}`);
    const { credential, version } = await store.get(namespace, name);
    return { body: { namespace, name, version, ...credential } };
  });
}
