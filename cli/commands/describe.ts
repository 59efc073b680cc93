// meshctl x describe service|workload: what applies to it, on one page (istioctl x describe).
import type { ControllerClient } from '../../common/controller-client.js';
import type { Description } from '../../core/describe.js';
import { output, table } from '../format.js';

export async function describe(client: ControllerClient, what: 'service' | 'workload', name: string, namespace: string, format: string): Promise<string> {
  const path = `/v1/mesh/${what === 'service' ? 'services' : 'workloads'}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  const d = (await client.call('GET', path)).json<Description>();
  if (format !== 'table') return output(d, format);
  const indent = (text: string) =>
    text
      .trimEnd()
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n') + '\n';
  const parts = [
    `${d.workload ? `Workload:  ${d.workload} (service ${d.service})` : `Service:   ${d.service}`}`,
    `Namespace: ${d.namespace}`,
    `Host:      ${d.host}`,
    `Versions:  ${d.versions.join(', ') || '-'}`,
    '',
    'Instances:',
    indent(
      table(
        ['INSTANCE', 'WORKLOAD', 'ADDRESS', 'SIDECAR', 'PROXY'],
        d.instances.map((i) => [i.id, i.workload, `${i.address}:${i.port}`, i.sidecar ? 'yes' : 'no', i.proxy]),
      ),
    ),
    'Resources that apply:',
    d.resources.length
      ? indent(
          table(
            ['KIND', 'NAME', 'WHY'],
            d.resources.map((r) => [r.kind, `${r.namespace}/${r.name}`, r.why]),
          ),
        )
      : '  none: the mesh defaults (round robin, mTLS when both sides have a sidecar, allow all)\n',
    'Findings:',
    d.findings.length
      ? indent(
          table(
            ['CODE', 'LEVEL', 'RESOURCE', 'MESSAGE'],
            d.findings.map((f) => [f.code, f.level, f.resource, f.message]),
          ),
        )
      : '  none\n',
  ];
  return parts.join('\n');
}
