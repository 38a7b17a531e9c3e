import { createServer, type Server } from 'node:http';
import { brokerRequestListener, type Lane } from '../../lib/http/node-listener.js';
import type { AddressInfo } from 'node:net';
import { startHarness, type Harness } from './harness.js';

type FetchHandler = (request: Request) => Response | Promise<Response>;

/** An app served on a real loopback port. */
export interface RunningServer {
  port: number;
  /** `http://<host>:<port>`, with the host the server was asked to be reached by. */
  url: string;
  /** Stops listening and drops every open (keep-alive) connection, so nothing outlives the test. */
  close(): Promise<void>;
}

/**
 * Serves `fetch` with @hono/node-server on a free loopback port, behind `lane` if given (as the local
 * server serves its app behind the token lane). With `host: 'localhost'` it listens on both 127.0.0.1
 * and ::1 (same port), whichever one the browser tries first.
 */
export async function serveFetch(fetch: FetchHandler, options: { host?: 'localhost' | '127.0.0.1'; lane?: Lane } = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const v4 = await listen(fetch, '127.0.0.1', 0, options.lane);
  const port = (v4.address() as AddressInfo).port;
  const servers = [v4];
  if (host === 'localhost') {
    // best effort: without IPv6 on loopback, every client falls back to 127.0.0.1 anyway
    const v6 = await listen(fetch, '::1', port, options.lane).catch(() => undefined);
    if (v6) servers.push(v6);
  }
  return { port, url: `http://${host}:${port}`, close: () => Promise.all(servers.map(closeServer)).then(() => undefined) };
}

/**
 * The broker of a test harness served on a real port and reached as `http://localhost:<port>`: the
 * port is taken first, then the harness is built with that public URL (link URLs and redirect_uri
 * must name the real server), then its app is attached.
 */
export async function serveHarness(options: Parameters<typeof startHarness>[0] = {}): Promise<{ h: Harness; server: RunningServer; close(): Promise<void> }> {
  let app: Harness['app'] | undefined;
  const server = await serveFetch((req) => (app ? app.fetch(req) : new Response('broker not attached yet', { status: 503 })), { host: 'localhost' });
  let h: Harness;
  try {
    h = await startHarness({ ...options, env: { BROKER_PUBLIC_URL: server.url, ...options.env } });
  } catch (err) {
    await server.close();
    throw err;
  }
  app = h.app;
  return { h, server, close: async () => void (await Promise.all([server.close(), h.close()])) };
}

function listen(fetch: FetchHandler, hostname: string, port: number, lane?: Lane): Promise<Server> {
  const server = createServer(brokerRequestListener(fetch, lane));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, hostname, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}
