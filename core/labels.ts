// Label syntax as Kubernetes writes it, and so Istio's selectors: `istio=ingressgateway`,
// `app.kubernetes.io/name=x`. One definition for the agent's declarations and mesh-proxy's flags.

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Why `key: value` is not a label, or undefined when it is one. */
export function labelProblem(key: string, value: string): string | undefined {
  if (!LABEL_KEY.test(key) || key.length > 253) return `"${key}" is not a label name (such as istio or app.kubernetes.io/name)`;
  if (!LABEL_VALUE.test(value) || value.length > 63) return `"${value}" (of ${key}) is not a label value (letters, digits, . _ -, at most 63)`;
  return undefined;
}

/** `key=value` as a pair, or undefined when it is not a label written that way. */
export function parseLabel(text: string): [string, string] | undefined {
  const i = text.indexOf('=');
  if (i <= 0) return undefined;
  const [key, value] = [text.slice(0, i), text.slice(i + 1)];
  return labelProblem(key, value) ? undefined : [key, value];
}
