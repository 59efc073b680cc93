// A Bookinfo-style service for the demo, written to know nothing of the mesh: it answers with
// its name and version, and calls the services it depends on at plain local URLs (the sidecar's
// local listeners), passing the end-user header on as Bookinfo does.
import http from 'node:http';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const calls = (args.calls ?? '').split(',').filter(Boolean).map((c) => c.split(':')); // name:port

function call(port, path, headers) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: Number(port), path, headers }, (res) => {
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
    for (const [name, port] of calls) deps[name] = await call(port, `/${name}`, pass);
    const body = JSON.stringify({ service: args.name, version: args.version, caller: req.headers['x-forwarded-client-cert'] ?? null, deps });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  })
  .listen(Number(args.port), '127.0.0.1');
