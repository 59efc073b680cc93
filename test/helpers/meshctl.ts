// meshctl as a person runs it, against a test controller: its data directory gives the address,
// CA bundle and admin token (the environment's MESH_* are cleared so they cannot interfere).
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const meshctl = join(new URL('../../../', import.meta.url).pathname, 'dist/cli/main.js');

export interface MeshctlRun {
  code: number | null;
  out: string;
  err: string;
}

export function runMeshctl(dataDir: string, args: string[], stdin?: string): Promise<MeshctlRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [meshctl, '--data-dir', dataDir, ...args], { env: { ...process.env, MESH_CONTROLLER: '', MESH_TOKEN: '' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
    child.stdin.end(stdin);
  });
}
