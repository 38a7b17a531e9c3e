/**
 * The simulator's HTTP listener, restartable: it can stop accepting connections (listener closed,
 * every open socket destroyed, as when a provider goes down) and listen again on the same port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export class RestartableListener {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly host: string,
    private readonly handler: RequestHandler,
  ) {}

  get listening(): boolean {
    return this.server !== null;
  }

  /** Listens on `port` (0: a free one) and resolves with the port bound. */
  async listen(port: number): Promise<number> {
    if (this.server) throw new Error('already listening');
    const server = createServer(this.handler);
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  /** Stops accepting connections and destroys every open one, in flight or idle. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Keep-alive and in-flight sockets would otherwise hold close() open (and vitest with it).
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}
