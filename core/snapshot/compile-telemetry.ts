// Istio's Telemetry resources for one workload: access logging and tracing, each taken from the
// most specific level that says anything about it (a resource selecting the workload in its
// namespace, else the namespace's resource without selector, else the root namespace's), and
// split by side: CLIENT (requests the workload makes, outbound) and SERVER (requests it serves).
import type { Resource, TelemetrySpec } from '../resources/types.js';
import { byAgeThenName, selectorMatches } from './selectors.js';
import type { TelemetryConfig } from './types.js';

type Side = 'client' | 'server';
const sidesOf = (mode: string | undefined): Side[] => (mode === 'CLIENT' ? ['client'] : mode === 'SERVER' ? ['server'] : ['client', 'server']);

export function compileTelemetry(resources: readonly Resource[], workload: { namespace: string; labels: Record<string, string> }, rootNamespace: string): TelemetryConfig | undefined {
  const all = (resources.filter((r) => r.kind === 'Telemetry') as Resource<TelemetrySpec>[]).sort(byAgeThenName);
  const inNs = all.filter((r) => r.metadata.namespace === workload.namespace);
  const levels = [
    inNs.filter((r) => r.spec.selector?.matchLabels && selectorMatches(r.spec.selector, workload.labels)),
    inNs.filter((r) => !r.spec.selector?.matchLabels),
    workload.namespace === rootNamespace ? [] : all.filter((r) => r.metadata.namespace === rootNamespace && !r.spec.selector?.matchLabels),
  ];
  /** The first resource, most specific level first, that has something to say about `field`. */
  const decide = <F extends 'accessLogging' | 'tracing'>(field: F) => {
    for (const level of levels) {
      const r = level.find((x) => (x.spec[field]?.length ?? 0) > 0);
      if (r) return r;
    }
    return undefined;
  };
  const out: TelemetryConfig = { sources: [] };
  const logging = decide('accessLogging');
  if (logging) {
    out.sources.push(`${logging.metadata.namespace}/${logging.metadata.name}`);
    out.accessLog = {};
    for (const entry of logging.spec.accessLogging ?? [])
      for (const side of sidesOf(entry.match?.mode)) out.accessLog[side] ??= { enabled: entry.disabled !== true, ...(entry.filter?.expression ? { filter: entry.filter.expression } : {}) };
  }
  const tracing = decide('tracing');
  if (tracing) {
    out.sources.push(`${tracing.metadata.namespace}/${tracing.metadata.name}`);
    out.tracing = {};
    for (const entry of tracing.spec.tracing ?? [])
      for (const side of sidesOf(entry.match?.mode))
        out.tracing[side] ??= { disabled: entry.disableSpanReporting === true, ...(entry.randomSamplingPercentage !== undefined ? { samplingPercent: entry.randomSamplingPercentage } : {}) };
  }
  return out.sources.length > 0 ? { ...out, sources: [...new Set(out.sources)] } : undefined;
}
