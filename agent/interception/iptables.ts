// Applies and removes capture rules in a network namespace: a named one (`ip netns`), a
// container's (entered through its process, as Docker names none), or the agent's own (a VM).
// Thin: the rules come from core/interception/rules.ts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { MeshError } from '../../core/errors.js';
import { runCommand, type CommandResult } from '../run-command.js';
import { buildRules, removalCommands, validateSpec, type Family, type InterceptionSpec } from '../../core/interception/rules.js';

const TOOLS: Record<Family, { restore: string; cmd: string }> = {
  ipv4: { restore: 'iptables-restore', cmd: 'iptables' },
  ipv6: { restore: 'ip6tables-restore', cmd: 'ip6tables' },
};

/** IPv4 always; IPv6 mirrored where the host has it (the kernel's IPv6 and ip6tables). */
export function hostFamilies(): Family[] {
  const v6 = existsSync('/proc/net/if_inet6') && spawnSync('ip6tables-restore', ['--version'], { stdio: 'ignore' }).status === 0;
  return v6 ? ['ipv4', 'ipv6'] : ['ipv4'];
}

/** Where the rules go: a named namespace, the namespace of a process (a container), or here. */
export type NetnsTarget = string | { pid: number } | undefined;

function describe(t: NetnsTarget): string {
  return t === undefined ? '' : typeof t === 'string' ? ` in ${t}` : ` in the network namespace of pid ${t.pid}`;
}

function exec(netns: NetnsTarget, argv: string[], input?: string): Promise<CommandResult> {
  const [cmd, args] =
    netns === undefined ? [argv[0], argv.slice(1)] : typeof netns === 'string' ? ['ip', ['netns', 'exec', netns, ...argv]] : ['nsenter', [`--net=/proc/${netns.pid}/ns/net`, ...argv]];
  return runCommand(cmd, args, { input, missingHint: 'install iptables and iproute2' });
}

export class IptablesInterceptor {
  constructor(
    private readonly netns: NetnsTarget,
    private readonly families: Family[] = ['ipv4'],
  ) {}

  /**
   * Installs the rules. The chains' contents are replaced atomically by iptables-restore; the
   * jumps from PREROUTING/OUTPUT are added only when missing, so re-running changes nothing.
   */
  async apply(spec: InterceptionSpec): Promise<void> {
    const problems = validateSpec(spec);
    if (problems.length > 0) throw new MeshError('INVALID_ARGUMENT', `invalid interception settings: ${problems.join('; ')}`);
    for (const family of this.families) {
      const t = TOOLS[family];
      let text = buildRules(spec, family);
      // The jumps from the built-in chains (every `-A|-I PREROUTING|OUTPUT ...` line), each added only when missing.
      for (const line of text.split('\n').filter((l) => /^-[AI] (PREROUTING|OUTPUT) /.test(l))) {
        const [, hook, ...rest] = line.split(' ');
        const present = await exec(this.netns, [t.cmd, '-t', 'nat', '-C', hook, ...rest]);
        if (present.code === 0) text = text.replace(`${line}\n`, '');
      }
      const r = await exec(this.netns, [t.restore, '--noflush'], text);
      if (r.code !== 0) throw new MeshError('INTERNAL', `${t.restore} refused the rules${describe(this.netns)}: ${r.stderr.trim()}`);
    }
  }

  /** Removes everything the agent added; missing pieces are fine (removal is idempotent). */
  async remove(): Promise<void> {
    for (const family of this.families) {
      for (const args of removalCommands()) await exec(this.netns, [TOOLS[family].cmd, ...args]);
    }
  }

  /** The nat table as iptables-save prints it, for diagnostics and tests. */
  async dump(family: Family = 'ipv4'): Promise<string> {
    return (await exec(this.netns, [`${TOOLS[family].cmd}-save`, '-t', 'nat'])).stdout;
  }
}
