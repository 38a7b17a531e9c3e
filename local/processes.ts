import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

/**
 * The few questions local mode asks about other processes: is one alive, which DynamoDB Local
 * serves a data directory, and how to stop one. `ps` answers on Linux and macOS alike.
 */
const run = promisify(execFile);

/** True when `pid` names a live process (one of another user counts as alive). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of `pid`, or undefined when it is gone (or `ps` is missing). */
export async function commandOf(pid: number): Promise<string | undefined> {
  try {
    const { stdout } = await run('ps', ['-o', 'command=', '-p', String(pid)]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The DynamoDB Local processes whose database is `dbPath` (an absolute path), by their command line. */
export async function dynamoDbLocalsServing(dbPath: string): Promise<number[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('ps', ['-eo', 'pid=,command='], { maxBuffer: 16 * 1024 * 1024 }));
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const line of stdout.split('\n')) {
    const match = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const command = match[2]!;
    if (command.includes('DynamoDBLocal.jar') && (command.includes(`-dbPath ${dbPath} `) || command.endsWith(`-dbPath ${dbPath}`))) pids.push(Number(match[1]));
  }
  return pids;
}

/**
 * SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone, or a moment after the
 * SIGKILL (a killed process whose parent has not reaped it yet still answers `kill(pid, 0)`, and
 * holds no port and no file).
 */
export async function terminate(pid: number, graceMs = 5_000): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch {
      // gone already
    }
  };
  signal('SIGTERM');
  const start = Date.now();
  while (isAlive(pid) && Date.now() - start < graceMs) await sleep(50);
  if (!isAlive(pid)) return;
  signal('SIGKILL');
  const killed = Date.now();
  while (isAlive(pid) && Date.now() - killed < 2_000) await sleep(50);
}
