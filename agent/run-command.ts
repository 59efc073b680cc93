// Runs a host command (iptables, systemctl, journalctl) to completion and collects its output.
// Its exit code is returned, not thrown: callers decide what a failure means.
import { spawn } from 'node:child_process';
import { MeshError } from '../core/errors.js';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `input` goes to stdin; without it stdin is closed (a command may exit before a write lands). */
export function runCommand(cmd: string, args: string[], opts: { input?: string; missingHint?: string } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new MeshError('UNAVAILABLE', `cannot run ${cmd}: ${err.message}${opts.missingHint ? `; ${opts.missingHint}` : ''}`, { cause: err })));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // a command that fails says why on stderr; its exit code decides
      child.stdin.end(opts.input);
    }
  });
}
