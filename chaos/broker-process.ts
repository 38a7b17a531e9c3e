import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The broker as a real process, the way an operator runs it: `npm start` itself, or the process it
 * ends in (`node --import tsx bin/local.ts`), so a `kill -9` hits the broker and nothing else.
 * `npm start` runs in a process group of its own, so stopping it reaches npm, its shell, tsx and the
 * broker, and no other process; the broker alone stays in the caller's group (unless asked for a
 * group of its own), so a Ctrl-C that stops the caller stops it too.
 */
export interface BrokerProcess {
  /** The process spawned: the broker itself (`node`), or npm (`npm`). */
  readonly pid: number;
  /** `http://127.0.0.1:<port>`, from the banner's `listening on` line. */
  readonly url: string;
  /** Everything it printed so far, stdout and stderr interleaved, without terminal colours. */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** `kill -9` of the broker process alone. */
  crash(): Promise<void>;
  /** SIGTERM to its process group (Ctrl-C's orderly stop); resolves once it exited. */
  stop(): Promise<void>;
}

export const REPOSITORY_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The environment a broker process starts from: nothing of the caller's but PATH and HOME. */
export function brokerEnv(env: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    // npm: no update check, no funding line, no colours in the banner
    NO_UPDATE_NOTIFIER: '1',
    npm_config_update_notifier: 'false',
    ...env,
  };
}

/** Starts the broker and resolves once it listens (or rejects with what it printed, if it exits first). */
export async function startBrokerProcess(options: { env: Record<string, string>; via?: 'node' | 'npm'; ownGroup?: boolean; readyTimeoutMs?: number }): Promise<BrokerProcess> {
  const [command, args] = options.via === 'npm' ? ['npm', ['start']] : [process.execPath, ['--import', 'tsx', 'bin/local.ts']];
  const ownGroup = options.via === 'npm' || options.ownGroup === true;
  const child = spawn(command, args as string[], { cwd: REPOSITORY_ROOT, env: brokerEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'], detached: ownGroup });
  let text = '';
  const collect = (chunk: Buffer) => (text += chunk.toString('utf8').replace(/\x1b\[[0-9;]*m/g, ''));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`the broker did not listen within ${options.readyTimeoutMs ?? 60_000} ms:\n${text}`)), options.readyTimeoutMs ?? 60_000);
    const check = () => {
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (match) {
        clearTimeout(timer);
        res(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      rej(new Error(`the broker exited (${code ?? signal}) before listening:\n${text}`));
    });
  });
  return {
    pid: child.pid!,
    url,
    output: () => text,
    exited,
    async crash() {
      child.kill('SIGKILL');
      await exited;
    },
    stop: () => stopProcess(child, exited, ownGroup),
  };
}

/** SIGTERM (to its group, when it has its own), SIGKILL after 15 s; resolves once it exited. */
async function stopProcess(child: ChildProcess, exited: Promise<unknown>, ownGroup: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(ownGroup ? -child.pid! : child.pid!, name);
    } catch {
      // gone already
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}
