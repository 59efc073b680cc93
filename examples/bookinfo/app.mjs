// A Bookinfo-style service for the demo, written to know nothing of the mesh: it answers with
// its name and version, and calls the services it depends on, passing the end-user header on as
// Bookinfo does. Calls go to plain local URLs (`--calls=ratings:19080`: the sidecar's local
// listeners, rootless) or by name (`--calls=ratings:9080 --by-name`: http://ratings:9080, which
// capture sends through the sidecar in Docker and on VMs).
import http from 'node:http';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const calls = (args.calls ?? '').split(',').filter(Boolean).map((c) => c.split(':')); // name:port

function call(name, port, path, headers) {
  return new Promise((resolve) => {
    const req = http.get({ host: 'by-name' in args ? name : '127.0.0.1', port: Number(port), path, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode, ...JSON.parse(body) });
        } catch {
          resolve({ status: res.statusCode, body });
        }
      });
    });
    req.on('error', (err) => resolve({ status: 0, error: err.message }));
  });
}

http
  .createServer(async (req, res) => {
    const pass = req.headers['end-user'] ? { 'end-user': req.headers['end-user'] } : {};
    const deps = {};
    for (const [name, port] of calls) deps[name] = await call(name, port, `/${name}`, pass);
    const body = JSON.stringify({ service: args.name, version: args.version, caller: req.headers['x-forwarded-client-cert'] ?? null, deps });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  })
  .listen(Number(args.port), args.listen ?? '127.0.0.1');
