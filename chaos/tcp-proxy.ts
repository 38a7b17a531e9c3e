import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a dependency (DynamoDB Local, in the chaos suite, the deadline, cache and
 * refresh tests, and the bench) that makes it unreachable the ways a network does:
 *
 * - `pass`: bytes flow both ways;
 * - `freeze`: connections are accepted (new ones too) and nothing flows in either direction: the
 *   dependency is frozen, a caller without a deadline waits for ever;
 * - `drop`: every open connection is reset, and each new one is accepted and reset at once;
 * - `refuse`: nothing listens on the port (connection refused); open connections are reset;
 * - `cut`: each answer is cut off after its first bytes (the connection is reset mid-answer).
 *
 * Leaving `freeze` resets the connections that were frozen (their callers gave up on them, or will
 * see a reset and retry); the port stays the same in every mode.
 */
export type ProxyMode = 'pass' | 'freeze' | 'drop' | 'refuse' | 'cut';

export interface TcpFaultProxy {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  port: number;
  readonly mode: ProxyMode;
  set(mode: ProxyMode): Promise<void>;
  /** Connections accepted so far (all modes but `refuse`). */
  readonly connections: number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
}

/** `to`: the dependency's URL (`http://127.0.0.1:8000`) or its host and port. */
export async function startTcpFaultProxy(to: string | { host?: string; port: number }, options: { port?: number } = {}): Promise<TcpFaultProxy> {
  const target = typeof to === 'string' ? { host: new URL(to).hostname, port: Number(new URL(to).port) } : to;
  const host = target.host ?? '127.0.0.1';
  const pairs = new Set<Pair>();
  let mode: ProxyMode = 'pass';
  let accepted = 0;
  let server: Server | undefined;
  let port = options.port ?? 0;

  const destroy = (pair: Pair) => {
    pair.client.resetAndDestroy();
    pair.upstream?.destroy();
    pairs.delete(pair);
  };

  const onConnection = (client: Socket) => {
    accepted += 1;
    const pair: Pair = { client, upstream: undefined };
    pairs.add(pair);
    client.on('error', () => destroy(pair));
    client.on('close', () => destroy(pair));
    if (mode === 'drop') return destroy(pair);
    if (mode === 'freeze') return client.pause();
    wire(pair);
  };

  const wire = (pair: Pair) => {
    const upstream = connect(target.port, host);
    pair.upstream = upstream;
    upstream.on('error', () => destroy(pair));
    upstream.on('close', () => destroy(pair));
    pair.client.on('data', (chunk) => {
      if (mode === 'pass' || mode === 'cut') upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (mode === 'cut') {
        pair.client.write(chunk.subarray(0, Math.min(chunk.length, 20)));
        return destroy(pair);
      }
      if (mode === 'pass') pair.client.write(chunk);
    });
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer(onConnection);
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });

  const stopListening = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      if (!s) return resolve();
      s.close(() => resolve());
    });

  await listen();
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get mode() {
      return mode;
    },
    get connections() {
      return accepted;
    },
    async set(next) {
      const previous = mode;
      mode = next;
      if (next === 'freeze') {
        for (const pair of pairs) {
          pair.client.pause();
          pair.upstream?.pause();
        }
      }
      if (previous === 'freeze' || next === 'drop' || next === 'refuse') for (const pair of [...pairs]) destroy(pair);
      if (next === 'refuse') await stopListening();
      else if (!server) await listen();
    },
    async close() {
      mode = 'refuse';
      for (const pair of [...pairs]) destroy(pair);
      await stopListening();
    },
  };
}
