// A TCP relay on loopback in front of a server, that can go silent the way a host does when it
// loses power or its network: connections stay open, nothing is reset, and no byte comes back
// (new connections are accepted and then hear nothing). What a client does then is what the
// test is about; a closed port would only test the easy case (connection refused).
import { connect, createServer, type Socket } from 'node:net';

export interface SilentRelay {
  port: number;
  /** From now on nothing is forwarded in either direction, and nothing is closed. */
  goSilent(): void;
  close(): Promise<void>;
}

export async function startSilentRelay(targetPort: number): Promise<SilentRelay> {
  let silent = false;
  const sockets = new Set<Socket>();
  const hold = (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  };
  const server = createServer((client) => {
    hold(client);
    if (silent) return client.pause();
    const upstream = connect(targetPort, '127.0.0.1');
    hold(upstream);
    const forward = (from: Socket, to: Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (!silent) to.write(chunk);
      });
      from.on('end', () => !silent && to.end());
      from.on('close', () => !silent && to.destroy());
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    goSilent: () => {
      silent = true;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
