// The catalog as Prometheus HTTP service discovery (http_sd_configs): one target group per
// instance whose sidecar has a status port, scraped at Istio's path, labelled with its service,
// namespace and version as Kubernetes service discovery would label a pod's series. Pure.
import type { ServiceInstance } from './catalog-model.js';
import { workloadMeta } from './workload-meta.js';

export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

export const SIDECAR_METRICS_PATH = '/stats/prometheus';

export function prometheusTargets(services: ReadonlyMap<string, readonly ServiceInstance[]>): TargetGroup[] {
  const groups: TargetGroup[] = [];
  for (const list of services.values())
    for (const i of list) {
      const port = i.sidecar?.statusPort;
      if (!port) continue;
      const host = i.address.includes(':') ? `[${i.address}]` : i.address;
      const meta = workloadMeta(i.service, i.namespace, i.labels, '');
      groups.push({
        targets: [`${host}:${port}`],
        labels: {
          __metrics_path__: SIDECAR_METRICS_PATH,
          namespace: i.namespace,
          service: i.service,
          app: meta.app,
          workload: meta.workload,
          instance_id: i.id,
          ...(i.labels.version ? { version: i.labels.version } : {}),
        },
      });
    }
  return groups.sort((a, b) => a.labels.instance_id.localeCompare(b.labels.instance_id));
}
