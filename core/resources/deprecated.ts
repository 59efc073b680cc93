// Fields Istio has deprecated but still accepts, read as Istio reads them: each is rewritten to
// its replacement before validation, and a warning names the field and what to write instead
// (the apply output shows it, as kubectl shows Istio's warnings). Pure: the input is not changed.
import type { Violation } from '../errors.js';
import { isPlainObject } from './schema.js';

type Doc = Record<string, unknown>;

/** A copy of the document with deprecated fields moved to their replacements, and what was moved. */
export function upgradeDeprecatedFields(doc: unknown): { doc: unknown; warnings: Violation[] } {
  const warnings: Violation[] = [];
  if (!isPlainObject(doc) || doc.kind !== 'VirtualService' || !isPlainObject(doc.spec) || !Array.isArray(doc.spec.http)) return { doc, warnings };
  const http = doc.spec.http.map((route: unknown, i: number) => (isPlainObject(route) ? upgradeHttpRoute(route, `spec.http[${i}]`, warnings) : route));
  if (warnings.length === 0) return { doc, warnings };
  return { doc: { ...doc, spec: { ...doc.spec, http } }, warnings };
}

function upgradeHttpRoute(route: Doc, path: string, warnings: Violation[]): Doc {
  let out = route;
  // fault.delay.percent (an integer percentage) -> fault.delay.percentage.value
  const delay = isPlainObject(route.fault) && isPlainObject(route.fault.delay) ? route.fault.delay : undefined;
  if (delay && 'percent' in delay) {
    const { percent, ...rest } = delay;
    const at = `${path}.fault.delay.percent`;
    if ('percentage' in rest) warnings.push({ path: at, message: 'is deprecated in Istio and ignored because percentage is given; remove it' });
    else warnings.push({ path: at, message: `is deprecated in Istio; read as percentage.value: ${String(percent)}. Write percentage: {value: ${String(percent)}} instead` });
    const upgraded = 'percentage' in rest ? rest : { ...rest, percentage: { value: percent } };
    out = { ...out, fault: { ...(route.fault as Doc), delay: upgraded } };
  }
  // mirrorPercent / mirror_percent (an integer) -> mirrorPercentage.value
  for (const old of ['mirrorPercent', 'mirror_percent']) {
    if (!(old in out)) continue;
    const { [old]: value, ...rest } = out;
    const at = `${path}.${old}`;
    if ('mirrorPercentage' in rest) warnings.push({ path: at, message: 'is deprecated in Istio and ignored because mirrorPercentage is given; remove it' });
    else warnings.push({ path: at, message: `is deprecated in Istio; read as mirrorPercentage.value: ${String(value)}. Write mirrorPercentage: {value: ${String(value)}} instead` });
    out = 'mirrorPercentage' in rest ? rest : { ...rest, mirrorPercentage: { value } };
  }
  // corsPolicy.allowOrigin (exact strings) -> corsPolicy.allowOrigins [{exact}]
  const cors = isPlainObject(out.corsPolicy) ? out.corsPolicy : undefined;
  if (cors && 'allowOrigin' in cors) {
    const { allowOrigin, ...rest } = cors;
    const at = `${path}.corsPolicy.allowOrigin`;
    if ('allowOrigins' in rest || !Array.isArray(allowOrigin)) {
      warnings.push({ path: at, message: 'is deprecated in Istio and ignored here (allowOrigins is given, or it is not a list); use allowOrigins' });
      out = { ...out, corsPolicy: rest };
    } else {
      warnings.push({ path: at, message: 'is deprecated in Istio; read as allowOrigins with exact matches. Write allowOrigins: [{exact: ...}] instead' });
      out = { ...out, corsPolicy: { ...rest, allowOrigins: allowOrigin.map((o) => ({ exact: o })) } };
    }
  }
  return out;
}
