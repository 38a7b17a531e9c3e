import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN, type Harness } from './harness.js';

export interface WorkerSummary {
  statuses: Record<string, number>;
  tokens: string[];
  errors: string[];
  ms: number;
}

const workerPath = fileURLToPath(new URL('./token-worker.ts', import.meta.url));

/**
 * Starts `processes` broker processes sharing the harness's table, key and simulator, releases them
 * together once all are ready, and collects their summaries.
 */
export async function tokenCallsFromProcesses(
  h: Pick<Harness, 'db' | 'sim' | 'masterKey'>,
  dynamoEndpoint: string,
  options: { processes: number; callsEach: number; tenant: string; account: string; bearer?: string; apiKeys?: string },
): Promise<WorkerSummary[]> {
  const children: ChildProcess[] = [];
  try {
    const ready = [];
    const done: Promise<WorkerSummary>[] = [];
    for (let i = 0; i < options.processes; i++) {
      const child = spawn(process.execPath, ['--import', 'tsx', workerPath], {
        env: {
          ...process.env,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          WORKER_ISSUER: h.sim.issuer,
          WORKER_ADMIN: ADMIN_TOKEN,
          WORKER_TABLE: h.db.table,
          WORKER_DYNAMO: dynamoEndpoint,
          WORKER_KEY: h.masterKey.toString('base64'),
          WORKER_CALLS: String(options.callsEach),
          WORKER_TENANT: options.tenant,
          WORKER_ACCOUNT: options.account,
          WORKER_BEARER: options.bearer ?? '',
          WORKER_API_KEYS: options.apiKeys ?? '',
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.push(child);
      let out = '';
      let err = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (err += d));
      ready.push(
        new Promise<void>((res, rej) => {
          const check = () => (out.startsWith('ready\n') ? res() : undefined);
          child.stdout!.on('data', check);
          child.once('exit', (code) => rej(new Error(`worker exited early (${code}): ${err.slice(-500)}`)));
        }),
      );
      done.push(
        new Promise<WorkerSummary>((res, rej) =>
          child.once('exit', (code) => (code === 0 ? res(JSON.parse(out.split('\n')[1]!) as WorkerSummary) : rej(new Error(`worker failed (${code}): ${err.slice(-500)}`)))),
        ),
      );
    }
    await Promise.all(ready);
    for (const child of children) child.stdin!.write('go\n');
    return await Promise.all(done);
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  }
}

const jobWorkerPath = fileURLToPath(new URL('./job-worker.ts', import.meta.url));

/** A broker process running one request (and its background work) until it is killed; see job-worker.ts. */
export interface JobWorker {
  /** The request's answer status, once the worker printed it. */
  readonly status: Promise<number>;
  /** `kill -9`, and wait for the exit. */
  kill(): Promise<void>;
}

export function startJobWorker(
  h: Pick<Harness, 'db' | 'sim' | 'masterKey'>,
  dynamoEndpoint: string,
  request: { method: string; path: string; body?: unknown; issuerCn?: string },
): JobWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', jobWorkerPath], {
    env: {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      WORKER_ISSUER: h.sim.issuer,
      ...(request.issuerCn ? { WORKER_ISSUER_CN: request.issuerCn } : {}),
      WORKER_ADMIN: ADMIN_TOKEN,
      WORKER_TABLE: h.db.table,
      WORKER_DYNAMO: dynamoEndpoint,
      WORKER_KEY: h.masterKey.toString('base64'),
      WORKER_METHOD: request.method,
      WORKER_PATH: request.path,
      ...(request.body === undefined ? {} : { WORKER_BODY: JSON.stringify(request.body) }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const status = new Promise<number>((res, rej) => {
    child.stdout!.on('data', () => {
      const match = /^status (\d+)$/m.exec(out);
      if (match) res(Number(match[1]));
    });
    child.once('exit', (code, signal) => rej(new Error(`job worker exited (${code ?? signal}) before answering: ${err.slice(-500)}`)));
  });
  status.catch(() => {});
  return {
    status,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
