// The web UI's files: a page, its script and style, and Cytoscape.js (graph layout and drawing)
// from node_modules. They carry no data and so need no credentials; the page reads the mesh
// through the admin API with the token the operator gives it (meshctl dashboard passes it in the
// URL fragment, which browsers never send to a server). Strict headers: nothing but these files
// runs on the page, and no other site may frame it.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MeshError } from '../../core/errors.js';
import type { Router } from './router.js';

const HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

/** Where each file comes from: the UI's own (copied next to the compiled code by the build), and the graph library. */
function assetPath(name: string): string | undefined {
  if (name === 'cytoscape.min.js') return createRequire(import.meta.url).resolve('cytoscape/dist/cytoscape.min.js');
  if (['index.html', 'app.js', 'app.css'].includes(name)) return fileURLToPath(new URL(`../ui/${name}`, import.meta.url));
  return undefined;
}

export function registerWebUi(router: Router): void {
  const cache = new Map<string, string>();
  const serve = (name: string) => {
    const path = assetPath(name);
    if (!path) throw new MeshError('NOT_FOUND', `the web UI has no file "${name}"`);
    let text = cache.get(name);
    if (text === undefined) {
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        throw new MeshError('INTERNAL', `the web UI file ${path} cannot be read (was the controller built with npm run build?)`, { cause: err });
      }
      cache.set(name, text);
    }
    return { raw: text, contentType: TYPES[name.slice(name.lastIndexOf('.') + 1)], headers: HEADERS };
  };
  router.add('GET', '/', 'public', () => ({ status: 302, headers: { location: '/ui/' } }));
  router.add('GET', '/ui', 'public', () => ({ status: 302, headers: { location: '/ui/' } }));
  router.add('GET', '/ui/', 'public', () => serve('index.html'));
  router.add('GET', '/ui/:file', 'public', (ctx) => serve(ctx.params[0]));
}
