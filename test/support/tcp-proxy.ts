import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy in front of a real service (DynamoDB Local), to make it unreachable for real:
 * `stop()` closes the listening port and destroys every connection (clients then meet
 * ECONNREFUSED or a reset socket), `start()` listens again on the same port. The service itself,
 * and its data, are untouched.
 */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly listening: boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** `target`: the service's URL (`http://127.0.0.1:8000`) or its host and port. */
export async function startTcpProxy(to: string | { host: string; port: number }): Promise<TcpProxy> {
  const target = typeof to === 'string' ? { host: new URL(to).hostname, port: Number(new URL(to).port) } : to;
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(target.port, target.host);
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => socket.destroy());
        }
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });
  await listen();
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get listening() {
      return server !== undefined;
    },
    async stop() {
      const s = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
    },
    async start() {
      if (!server) await listen();
    },
  };
}
