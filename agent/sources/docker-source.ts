// Docker mode's workloads: running containers with a `mesh.service` label (or any mesh.* label,
// so that a typo is reported rather than ignored), found by listing and kept current by the
// engine's event stream. When the engine goes away the stream is re-opened with backoff; the
// sidecars keep running meanwhile, and a full scan follows the reconnection.
import type Docker from 'dockerode';
import { declarationFromLabels, SIDECAR_LABELS } from '../../core/agent/workload.js';
import type { DiscoveredWorkload } from '../../core/agent/plan.js';
import type { SourceEvents, WorkloadScan, WorkloadSource } from './source.js';

const RECONNECT_MS = [250, 500, 1000, 2000];

export class DockerWorkloadSource implements WorkloadSource {
  private stream: NodeJS.ReadableStream | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly docker: Docker) {}

  async scan(): Promise<WorkloadScan> {
    const scan: WorkloadScan = { workloads: [], problems: [] };
    const containers = await this.docker.listContainers({ filters: { status: ['running'] } });
    for (const c of containers) {
      const labels = c.Labels ?? {};
      if (labels[SIDECAR_LABELS.managedBy]) continue;
      if (!Object.keys(labels).some((k) => k.startsWith('mesh.'))) continue;
      const name = (c.Names?.[0] ?? c.Id).replace(/^\//, '');
      const what = `container ${name} (${c.Id.slice(0, 12)})`;
      let info: Docker.ContainerInspectInfo;
      try {
        info = await this.docker.getContainer(c.Id).inspect();
      } catch {
        continue; // gone between list and inspect
      }
      const exposed = Object.keys(info.Config.ExposedPorts ?? {})
        .filter((p) => p.endsWith('/tcp'))
        .map((p) => Number(p.split('/')[0]));
      const parsed = declarationFromLabels(labels, exposed);
      if (!parsed) continue;
      if (!parsed.ok) {
        scan.problems.push({ what, violations: parsed.violations });
        continue;
      }
      const mode = info.HostConfig.NetworkMode ?? '';
      if (mode === 'host' || mode.startsWith('container:')) {
        scan.problems.push({
          what,
          violations: [{ path: 'network_mode', message: `"${mode}" is not supported: a meshed container needs its own network namespace for its sidecar and capture rules` }],
        });
        continue;
      }
      const address = Object.values(info.NetworkSettings.Networks ?? {})
        .map((n) => n.IPAddress)
        .find(Boolean);
      if (!address || !info.State.Pid) continue; // not networked yet; the next event brings it
      const workload: DiscoveredWorkload = {
        instanceId: `${parsed.value.service}-${c.Id.slice(0, 12)}`,
        decl: parsed.value,
        address,
        appRef: c.Id,
        netnsPid: info.State.Pid,
      };
      scan.workloads.push(workload);
    }
    return scan;
  }

  watch(events: SourceEvents): void {
    void this.open(events, 0);
  }

  private async open(events: SourceEvents, attempt: number): Promise<void> {
    if (this.closed) return;
    try {
      const stream = (await this.docker.getEvents({ filters: { type: ['container'], event: ['start', 'die', 'destroy'] } })) as NodeJS.ReadableStream;
      if (this.closed) return void (stream as unknown as { destroy(): void }).destroy();
      this.stream = stream;
      if (attempt > 0) events.status(true, 'the Docker engine answers again');
      events.changed(); // whatever happened while the stream was down
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line.trim()) this.onEvent(line, events);
        }
      });
      const lost = (why: string) => {
        if (this.closed || this.stream !== stream) return;
        this.stream = undefined;
        events.status(false, `lost the Docker engine's event stream (${why}); sidecars keep running, retrying`);
        this.schedule(events, 1);
      };
      stream.on('end', () => lost('it ended'));
      stream.on('error', (err: Error) => lost(err.message));
    } catch (err) {
      if (attempt === 0 || attempt % 10 === 1) events.status(false, `cannot reach the Docker engine: ${(err as Error).message}; retrying`);
      this.schedule(events, attempt + 1);
    }
  }

  private schedule(events: SourceEvents, attempt: number): void {
    if (this.closed) return;
    const ms = RECONNECT_MS[Math.min(attempt, RECONNECT_MS.length - 1)];
    this.retry = setTimeout(() => void this.open(events, attempt), ms);
  }

  private onEvent(line: string, events: SourceEvents): void {
    let e: { status?: string; Action?: string; id?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
    try {
      e = JSON.parse(line);
    } catch {
      return;
    }
    const action = e.Action ?? e.status;
    const attrs = e.Actor?.Attributes ?? {};
    const id = e.Actor?.ID ?? e.id ?? '';
    const meshy = Object.keys(attrs).some((k) => k.startsWith('mesh.'));
    if (!meshy) return;
    if ((action === 'die' || action === 'destroy') && !attrs[SIDECAR_LABELS.managedBy]) events.stopped(id);
    events.changed();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    const s = this.stream as unknown as { destroy?: () => void } | undefined;
    s?.destroy?.();
    this.stream = undefined;
  }
}
