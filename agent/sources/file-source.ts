// VM mode's workloads: one service file per service in a configuration directory. A file with an
// error is reported with its path, line or field, and skipped; the other services carry on.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { checkHostServices, declarationFromServiceFile, type WorkloadDeclaration } from '../../core/agent/workload.js';
import type { Violation } from '../../core/errors.js';
import type { SourceEvents, WorkloadProblem, WorkloadScan, WorkloadSource } from './source.js';

export interface FileSourceOptions {
  dir: string;
  /** The address other hosts reach this VM at. */
  address: string;
  /** Instance ids are `<service>-<instanceSuffix>`. */
  instanceSuffix: string;
}

export class FileWorkloadSource implements WorkloadSource {
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;

  constructor(private readonly opts: FileSourceOptions) {}

  async scan(): Promise<WorkloadScan> {
    const problems: WorkloadProblem[] = [];
    let names: string[];
    try {
      names = (await readdir(this.opts.dir)).filter((n) => /\.(ya?ml|json)$/.test(n)).sort();
    } catch (err) {
      return { workloads: [], problems: [{ what: `service directory ${this.opts.dir}`, violations: [{ path: '.', message: `cannot be read: ${(err as Error).message}` }] }] };
    }
    const parsed: { file: string; decl: WorkloadDeclaration }[] = [];
    const passwd = await readPasswd();
    for (const name of names) {
      const file = join(this.opts.dir, name);
      const doc = parseDocument(await readFile(file, 'utf8'), { uniqueKeys: true, prettyErrors: false });
      if (doc.errors.length > 0) {
        problems.push({ what: `service file ${file}`, violations: doc.errors.map((e) => ({ path: e.linePos ? `line ${e.linePos[0].line}` : '.', message: e.message.split('\n')[0] })) });
        continue;
      }
      const result = declarationFromServiceFile(doc.toJS());
      if (!result.ok) {
        problems.push({ what: `service file ${file}`, violations: result.violations });
        continue;
      }
      if (typeof result.value.user === 'string' && !passwd.has(result.value.user)) {
        problems.push({ what: `service file ${file}`, violations: [{ path: 'user', message: `no user "${result.value.user}" on this host` }] });
        continue;
      }
      parsed.push({ file, decl: result.value });
    }
    const clashes = checkHostServices(parsed);
    const badFiles = new Map<string, Violation[]>();
    for (const v of clashes) badFiles.set(v.document!, [...(badFiles.get(v.document!) ?? []), { path: v.path, message: v.message }]);
    for (const [file, violations] of badFiles) problems.push({ what: `service file ${file}`, violations });
    const workloads = parsed
      .filter(({ file }) => !badFiles.has(file))
      .map(({ file, decl }) => ({
        instanceId: `${decl.service}-${this.opts.instanceSuffix}`,
        decl,
        address: this.opts.address,
        appRef: file,
        ...(decl.user !== undefined ? { appUid: typeof decl.user === 'number' ? decl.user : passwd.get(decl.user)! } : {}),
      }));
    return { workloads, problems };
  }

  watch(events: SourceEvents): void {
    try {
      this.watcher = watch(this.opts.dir, () => {
        clearTimeout(this.debounce);
        this.debounce = setTimeout(() => events.changed(), 100); // editors write in several steps
      });
      this.watcher.on('error', () => undefined); // the periodic resync still sees changes
    } catch {
      // no directory yet: the periodic resync picks it up once it exists
    }
  }

  close(): void {
    clearTimeout(this.debounce);
    this.watcher?.close();
  }
}

async function readPasswd(): Promise<Map<string, number>> {
  const users = new Map<string, number>();
  const text = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [name, , uid] = line.split(':');
    if (name && uid !== undefined) users.set(name, Number(uid));
  }
  return users;
}
