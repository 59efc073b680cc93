import { durationMs } from '../../core/duration.js';
import { MeshError } from '../../core/errors.js';
import { isPlainObject } from '../../core/resources/schema.js';
import { formatSpiffe, type SpiffeIdentity } from '../../core/pki/spiffe.js';
import { certificateInfo } from '../../core/pki/x509.js';
import { createBootstrapToken, verifyBootstrapToken } from '../../core/tokens.js';
import type { ApiDeps } from './deps.js';
import type { RequestContext, Router } from './router.js';

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_TOKEN_TTL_MS = 7 * 24 * 3_600_000;

export function registerCaRoutes(router: Router, d: ApiDeps): void {
  router.add('GET', '/v1/ca/roots', 'public', () => ({ body: { trustDomain: d.ca.options.trustDomain, roots: d.ca.trustBundle() } }));

  // Who gets which identity: a workload renewing over mTLS gets its own; a bootstrap token gets
  // the service it was made for; an admin names the identity. The CSR must not ask for another.
  router.add('POST', '/v1/ca/sign', 'public', async (ctx) => {
    const body = await ctx.json();
    if (!isPlainObject(body) || typeof body.csr !== 'string') throw new MeshError('INVALID_ARGUMENT', 'send {"csr": "<PEM certificate request>"} (and "ttl" optionally)');
    d.metrics.csrs.inc();
    const identity = identityFor(ctx, d, body);
    const ttlMs = typeof body.ttl === 'string' ? durationMs(body.ttl, 'ttl') : undefined;
    const certificate = d.ca.issue(body.csr, identity, ttlMs);
    d.metrics.issued.inc();
    const info = certificateInfo(certificate);
    return { body: { certificate, identity: formatSpiffe(identity), expiresAt: info.notAfter.toISOString(), trustBundle: d.ca.trustBundle() } };
  });

  router.add('POST', '/v1/ca/rotate', 'admin', async () => {
    await d.ca.rotate();
    return { body: { roots: d.ca.trustBundle() } };
  });

  router.add('POST', '/v1/tokens', 'agent', async (ctx) => {
    const body = await ctx.json();
    if (!isPlainObject(body) || typeof body.service !== 'string' || !NAME.test(body.service))
      throw new MeshError('INVALID_ARGUMENT', 'send {"service": "<name>"}: lowercase letters, digits and "-" (plus optional "namespace", "serviceAccount" and "ttl")');
    const namespace = typeof body.namespace === 'string' ? body.namespace : 'default';
    if (!NAME.test(namespace)) throw new MeshError('INVALID_ARGUMENT', `"${namespace}" is not a valid namespace`);
    const serviceAccount = body.serviceAccount === undefined ? undefined : String(body.serviceAccount);
    if (serviceAccount !== undefined && !NAME.test(serviceAccount))
      throw new MeshError('INVALID_ARGUMENT', `"${serviceAccount}" is not a valid service account name: lowercase letters, digits and "-"`);
    const ttlMs = typeof body.ttl === 'string' ? durationMs(body.ttl, 'ttl') : 3_600_000;
    if (ttlMs <= 0 || ttlMs > MAX_TOKEN_TTL_MS) throw new MeshError('INVALID_ARGUMENT', `ttl must be more than 0 and at most 168h, got ${body.ttl}`);
    const exp = Math.floor((Date.now() + ttlMs) / 1000);
    const token = createBootstrapToken(d.credentials.bootstrapKey(), { service: body.service, namespace, ...(serviceAccount ? { serviceAccount } : {}), exp });
    return { status: 201, body: { token, service: body.service, namespace, serviceAccount: serviceAccount ?? body.service, expiresAt: new Date(exp * 1000).toISOString() } };
  });
  registerAgentTokenRoute(router, d);
}

export function registerAgentTokenRoute(router: Router, d: ApiDeps): void {
  // A host agent's credential: it may mint bootstrap tokens and register instances, nothing else.
  router.add('POST', '/v1/agent-tokens', 'admin', async (ctx) => {
    const body = await ctx.json();
    if (!isPlainObject(body) || typeof body.host !== 'string' || !/^[A-Za-z0-9._-]{1,253}$/.test(body.host))
      throw new MeshError('INVALID_ARGUMENT', 'send {"host": "<name>"}: the host the agent runs on (letters, digits, . _ -)');
    return { status: 201, body: { token: await d.credentials.createAgentToken(body.host), host: body.host } };
  });
  router.add('DELETE', '/v1/agent-tokens/:host', 'admin', async (ctx) => {
    const host = ctx.params[0];
    const revoked = await d.credentials.revokeAgentTokens(host);
    if (revoked === 0) throw new MeshError('NOT_FOUND', `no agent token was made for host "${host}"`);
    return { body: { host, revoked } };
  });
}

function identityFor(ctx: RequestContext, d: ApiDeps, body: Record<string, unknown>): SpiffeIdentity {
  const trustDomain = d.ca.options.trustDomain;
  const p = ctx.principal;
  if (p.kind === 'workload') return { trustDomain, namespace: p.namespace, service: p.service };
  if (p.kind === 'agent')
    throw new MeshError('PERMISSION_DENIED', `the host agent token of ${p.host} cannot sign certificates; it mints a bootstrap token (POST /v1/tokens) and the workload sends its own CSR`);
  if (p.kind === 'admin') {
    const account = body.serviceAccount ?? body.service;
    if (typeof account !== 'string' || !NAME.test(account)) throw new MeshError('INVALID_ARGUMENT', 'as admin, name the identity: {"service": "<name>", "namespace": "<ns>"} (or "serviceAccount")');
    return { trustDomain, namespace: typeof body.namespace === 'string' ? body.namespace : 'default', service: account };
  }
  const token = bearer(ctx) ?? (typeof body.token === 'string' ? body.token : undefined);
  if (!token) throw new MeshError('UNAUTHENTICATED', 'signing a certificate needs a bootstrap token (Authorization: Bearer <token>), a current workload certificate, or the admin token');
  const claims = verifyBootstrapToken(d.credentials.bootstrapKey(), token, Date.now());
  return { trustDomain, namespace: claims.namespace, service: claims.serviceAccount ?? claims.service };
}

function bearer(ctx: RequestContext): string | undefined {
  const h = ctx.req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
}
