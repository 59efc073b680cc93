// What an application typically routes on: the path decoded once, with dot segments and
// repeated slashes resolved. The fuzzers check that no request the policy denies is seen this way.

export function applicationView(url: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(url.split('?')[0]);
  } catch {
    return undefined; // the application refuses it
  }
  const out: string[] = [];
  for (const seg of path
    .replace(/\/{2,}/g, '/')
    .split('/')
    .slice(1)) {
    if (seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}

/** Paths under /admin, as the fuzzers' policy denies them. */
export function readAsAdmin(url: string): boolean {
  const p = applicationView(url);
  return p !== undefined && (p === '/admin' || p.startsWith('/admin/'));
}
