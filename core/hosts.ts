// Hosts in Istio config name services. Users write the short name (`reviews`), Consul's DNS
// name (`reviews.service.consul`, optionally with a datacenter), or an Istio/Kubernetes FQDN
// (`reviews.default.svc.cluster.local`, `reviews.default`); all of them mean one catalog service.

export const DEFAULT_NAMESPACE = 'default';

export interface ServiceRef {
  name: string;
  namespace: string;
}

const LABEL = '[a-z0-9](?:[-a-z0-9]*[a-z0-9])?';
const SHORT_RE = new RegExp(`^(${LABEL})$`);
const CONSUL_RE = new RegExp(`^(${LABEL})\\.service(?:\\.${LABEL})?\\.consul$`);
const FQDN_RE = new RegExp(`^(${LABEL})\\.(${LABEL})\\.svc(?:\\.cluster\\.local)?$`);
const NAME_NS_RE = new RegExp(`^(${LABEL})\\.(${LABEL})$`);
// Keeps `example.com` from being read as service `example` in namespace `com`.
const PUBLIC_SUFFIXES = new Set(['com', 'org', 'net', 'io', 'dev', 'app', 'cloud', 'co', 'de', 'uk', 'fr', 'eu', 'us', 'local', 'internal', 'localhost', 'consul']);

/**
 * Maps a host to the catalog service it names, or undefined when the host is external
 * (a ServiceEntry host such as `api.example.com`) or a wildcard.
 */
export function serviceForHost(host: string, namespace = DEFAULT_NAMESPACE): ServiceRef | undefined {
  const h = host.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  let m = SHORT_RE.exec(h);
  if (m) return { name: m[1], namespace };
  m = CONSUL_RE.exec(h);
  if (m) return { name: m[1], namespace };
  m = FQDN_RE.exec(h);
  if (m) return { name: m[1], namespace: m[2] };
  m = NAME_NS_RE.exec(h);
  if (m && !PUBLIC_SUFFIXES.has(m[2])) return { name: m[1], namespace: m[2] };
  return undefined;
}

/**
 * The names a service answers to for a caller in `callerNamespace`; sidecars match the
 * Host/authority header against them. As Kubernetes DNS resolves them for Istio: the short name
 * (and Consul's namespace-less name) only in the caller's own namespace; `name.namespace` and the
 * FQDN forms from anywhere.
 */
export function hostAliases(ref: ServiceRef, callerNamespace: string = ref.namespace): string[] {
  const { name, namespace } = ref;
  const qualified = [`${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`];
  return namespace === callerNamespace ? [name, `${name}.service.consul`, ...qualified] : qualified;
}

export function serviceKey(ref: ServiceRef): string {
  return `${ref.namespace}/${ref.name}`;
}
