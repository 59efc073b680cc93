// meshctl dashboard: the controller's web UI, opened in the browser when this machine has one,
// else its address printed. The admin token travels in the URL fragment, which a browser never
// sends to a server (nor into its logs); the page keeps it for the tab only.
import { spawn, spawnSync } from 'node:child_process';
import type { ControllerClient } from '../../common/controller-client.js';
import { MeshError } from '../../core/errors.js';

function browserCommand(): string | undefined {
  if (process.env.BROWSER) return process.env.BROWSER;
  if (!process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return undefined;
  return spawnSync('sh', ['-c', 'command -v xdg-open'], { encoding: 'utf8' }).stdout.trim() || undefined;
}

export async function dashboard(client: ControllerClient, openBrowser: boolean): Promise<string> {
  // Fails here, with the controller's own error, rather than in the browser.
  await client.call('GET', '/healthz');
  if (!client.token) throw new MeshError('UNAUTHENTICATED', 'the dashboard needs the admin token: give --token, MESH_TOKEN, or --data-dir with admin-token');
  const url = `${client.baseUrl}/ui/#token=${encodeURIComponent(client.token)}`;
  const browser = openBrowser ? browserCommand() : undefined;
  if (browser) {
    spawn(browser, [url], { detached: true, stdio: 'ignore' }).unref();
    return `Opened the mesh dashboard in ${browser}: ${client.baseUrl}/ui/\n`;
  }
  return `${url}\n(the mesh dashboard: open this address in a browser; the part after # is the admin token, which the browser keeps to itself)\n`;
}
