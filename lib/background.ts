import type { Logger } from './log.js';

/** Something that finishes the work it has queued when asked to (the event outbox). */
export interface Drainable {
  /** Resolves once the queued work is done, or after `timeoutMs` (real time), whichever comes first. */
  drain(timeoutMs: number): Promise<void>;
}

/**
 * Work a request started and does not wait for: a rotated pair's commit still retrying after the
 * caller was answered, a tenant job continued after its 202, the event outbox (attached).
 *
 * It lives as long as the process does, and no longer:
 * - locally (`npm start`, tests) the process keeps running, and so does the work;
 * - in Lambda an invocation ends when its handler's promise resolves, and the execution environment
 *   may then be frozen or reclaimed. `lib/runtime/after-response.ts` registers an internal Lambda
 *   extension that keeps the invocation open after the answer went out until {@link drain} settles
 *   or the invocation's deadline comes ({@link setBound}); whatever is left then is picked up again
 *   by the scheduled refresher (tenant jobs, pending revocations) or guarded by its lease (a commit).
 */
export class BackgroundWork implements Drainable {
  private readonly tasks = new Set<Promise<void>>();
  private readonly attached: Drainable[] = [];
  /** Real-time ms epoch by which background work must be done (Infinity: the process lives on). */
  private bound = Number.POSITIVE_INFINITY;

  constructor(private readonly log: Logger) {}

  /** Starts `work` now without waiting for it; a failure is logged, never thrown. */
  run(what: string, work: () => Promise<unknown>): void {
    this.track(what, Promise.resolve().then(work));
  }

  /** Keeps an already running promise in view until it settles; a failure is logged, never thrown. */
  track(what: string, running: Promise<unknown>): void {
    const task: Promise<void> = running.then(
      () => undefined,
      (err: unknown) => this.log.error('background.failed', { what, err }),
    );
    this.tasks.add(task);
    void task.finally(() => this.tasks.delete(task));
  }

  /** Also drains `other` (after this work's own tasks) whenever this is drained. */
  attach(other: Drainable): void {
    this.attached.push(other);
  }

  /** Tasks still running. */
  get pending(): number {
    return this.tasks.size;
  }

  /** Set by the Lambda wrapper at each invocation: background work must be done by `deadlineMs` (real time). */
  setBound(deadlineMs: number): void {
    this.bound = deadlineMs;
  }

  /** Milliseconds left for background work (Infinity outside Lambda). */
  remainingMs(): number {
    return this.bound === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : Math.max(0, this.bound - Date.now());
  }

  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    // a task may start another (a job continuing): wait until none is left or the time is up
    while (this.tasks.size > 0 && Date.now() < deadline) {
      await settledOrTimeout([...this.tasks], deadline - Date.now());
    }
    for (const other of this.attached) await other.drain(Math.max(0, deadline - Date.now()));
  }
}

/** Waits for every promise to settle, or `ms`, whichever is first; the timer never keeps the process alive. */
export async function settledOrTimeout(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
    timer.unref();
  });
  try {
    return await Promise.race([Promise.allSettled(promises).then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
