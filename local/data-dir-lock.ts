import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { commandOf, dynamoDbLocalsServing, isAlive, terminate } from './processes.js';

/**
 * One DynamoDB Local per data directory (CONTRACT.md, local mode). The directory holds a lock file,
 * `lock.json` (mode 0600), naming the live process that serves it — the broker's process id, and
 * once it runs its DynamoDB Local's process id and endpoint:
 *
 *   {"pid":4242,"startedAt":"…","dynamodb":{"pid":4250,"endpoint":"http://127.0.0.1:41107"}}
 *
 * Taking the lock:
 * - no lock file: created with O_EXCL, so of two starters exactly one wins;
 * - a lock whose broker is alive: refused ({@link DataDirInUseError}, naming that process);
 * - a lock whose broker is gone (a crash, `kill -9`): stale. Any DynamoDB Local still serving the
 *   directory is stopped first (its guardian may not have finished yet, or was killed too), then the
 *   stale lock is replaced.
 * A DynamoDB Local serving the directory with no live broker at all (left by a version of the broker
 * without this lock) is stopped the same way.
 */
export interface DataDirLockHolder {
  pid: number;
  startedAt: string;
  dynamodb?: { pid: number; endpoint: string };
}

export interface DataDirLock {
  readonly path: string;
  /** DynamoDB Local processes found serving the directory with no live broker, and stopped. */
  readonly orphansStopped: number[];
  /** Names the DynamoDB Local that now serves the directory. */
  record(dynamodb: { pid: number; endpoint: string }): Promise<void>;
  /** Removes the lock, if it is still this process's. */
  release(): Promise<void>;
}

export const LOCK_FILE = 'lock.json';

export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  constructor(
    readonly dir: string,
    readonly holder: DataDirLockHolder,
  ) {
    super(
      `the data directory ${dir} is in use by process ${holder.pid}` +
        (holder.dynamodb ? ` (its DynamoDB Local, process ${holder.dynamodb.pid}, serves ${holder.dynamodb.endpoint})` : '') +
        ': stop that broker first, or set BROKER_DATA_DIR to another directory',
    );
  }
}

/** Takes the lock of `dir` (the DynamoDB Local data directory) for this process. */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  const path = join(dir, LOCK_FILE);
  const orphansStopped: number[] = [];
  const stopOrphans = async () => {
    for (const pid of await dynamoDbLocalsServing(dir)) {
      await terminate(pid);
      orphansStopped.push(pid);
    }
  };
  for (let attempt = 1; ; attempt++) {
    const mine: DataDirLockHolder = { pid: process.pid, startedAt: new Date().toISOString() };
    try {
      const file = await open(path, 'wx', 0o600);
      try {
        await file.writeFile(JSON.stringify(mine) + '\n');
      } finally {
        await file.close();
      }
      // nobody else holds a lock on this directory; a DynamoDB Local serving it now is an orphan
      await stopOrphans();
      return heldLock(path, mine, orphansStopped);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
    }
    // a lock file just created by another starter may not hold its content yet: look twice
    const holder = (await readHolder(path)) ?? (await sleep(200).then(() => readHolder(path)));
    if (holder && (await brokerAlive(holder.pid))) throw new DataDirInUseError(dir, holder);
    // the holder is gone: whatever DynamoDB Local it left serving the directory goes too, then its lock
    await stopOrphans();
    await retire(path, holder);
  }
}

function heldLock(path: string, mine: DataDirLockHolder, orphansStopped: number[]): DataDirLock {
  return {
    path,
    orphansStopped,
    async record(dynamodb) {
      mine.dynamodb = dynamodb;
      // written aside and renamed over the lock: a reader never sees half a file
      const aside = `${path}.${process.pid}`;
      const file = await open(aside, 'w', 0o600);
      try {
        await file.writeFile(JSON.stringify(mine) + '\n');
      } finally {
        await file.close();
      }
      await rename(aside, path);
    },
    async release() {
      const holder = await readHolder(path);
      if (holder?.pid === process.pid) await rm(path, { force: true });
    },
  };
}

async function readHolder(path: string): Promise<DataDirLockHolder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<DataDirLockHolder>;
    return typeof parsed.pid === 'number' ? (parsed as DataDirLockHolder) : undefined;
  } catch {
    // missing, or not a lock this broker wrote (an empty file, a crash while writing): stale
    return undefined;
  }
}

/** A live process with the holder's id that is a Node.js process (a reused id of another program is not a broker). */
async function brokerAlive(pid: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  const command = await commandOf(pid);
  return command === undefined || /node|tsx/i.test(command);
}

/**
 * Removes a stale lock, unless another starter replaced it meanwhile (then the next attempt reads
 * the new holder). Two starters racing on the same stale lock is the one case this cannot settle
 * alone; the O_EXCL create that follows lets only one of them through.
 */
async function retire(path: string, stale: DataDirLockHolder | undefined): Promise<void> {
  const now = await readHolder(path);
  if (now && stale && (now.pid !== stale.pid || now.startedAt !== stale.startedAt)) return;
  await rm(path, { force: true });
}
