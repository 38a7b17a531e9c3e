import { settledOrTimeout, type BackgroundWork } from '../background.js';
import type { Logger } from '../log.js';

/**
 * Background work in Lambda. An invocation ends when its handler's promise resolves; the execution
 * environment is then frozen (and may be reclaimed), so work still running — a rotated pair's
 * commit, a tenant job after its 202, the event outbox — would stop with it. What keeps it going
 * is an internal Lambda extension (Lambda Extensions API, https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html):
 *
 * 1. during init (the module is loaded with a top-level await) it registers for `INVOKE` events;
 * 2. for each invocation, `GET /event/next` answers when the invocation starts; the handler runs and
 *    answers, and Lambda sends that answer to API Gateway at once;
 * 3. the extension then waits until the handler of that request has returned and the function's
 *    background work is drained, bounded by the invocation's deadline, before it asks for the
 *    next event: until then Lambda keeps the environment running (billed as
 *    `PostRuntimeExtensionsDuration`, counted in the function's timeout).
 *
 * What the deadline cuts short is not lost: a commit is guarded by its lease (and retried no
 * further once the lease nears its end), a tenant job is due again in the refresher's index, a
 * pending revocation is kept in the table; only queued events are lost (and counted when the
 * environment thaws). Without the Runtime API (tests, local mode) the work simply runs on in the
 * process; if registration fails in Lambda, each invocation drains its work before it answers.
 */
export interface AfterResponse {
  /** Runs one invocation's handler and arranges for `background` to be drained after its answer. */
  invoke<T>(context: InvocationContext, background: BackgroundWork, handle: () => Promise<T>): Promise<T>;
  readonly mode: 'extension' | 'in-process' | 'drain-before-answer';
}

export interface InvocationContext {
  awsRequestId: string;
  getRemainingTimeInMillis(): number;
}

export const EXTENSION_NAME = 'longport-token-broker-after-response';
/** Background work stops this long before the invocation's deadline. */
const DEADLINE_MARGIN_MS = 500;

/** Outside Lambda: nothing to keep open. */
const inProcess: AfterResponse = {
  mode: 'in-process',
  invoke: (_context, _background, handle) => handle(),
};

/** In Lambda without the extension: the answer waits for the work, within the invocation's time. */
const drainBeforeAnswer: AfterResponse = {
  mode: 'drain-before-answer',
  async invoke(context, background, handle) {
    background.setBound(Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS);
    try {
      return await handle();
    } finally {
      await background.drain(context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS);
    }
  },
};

/** Registers the extension when `runtimeApi` (`AWS_LAMBDA_RUNTIME_API`) is set; call it during init. */
export async function registerAfterResponse(runtimeApi: string | undefined, log: Logger, fetchImpl: typeof fetch = fetch): Promise<AfterResponse> {
  if (!runtimeApi) return inProcess;
  const base = `http://${runtimeApi}/2020-01-01/extension`;
  let id: string | null = null;
  try {
    const res = await fetchImpl(`${base}/register`, {
      method: 'POST',
      headers: { 'Lambda-Extension-Name': EXTENSION_NAME, 'content-type': 'application/json' },
      body: JSON.stringify({ events: ['INVOKE'] }),
    });
    await res.body?.cancel();
    id = res.ok ? res.headers.get('lambda-extension-identifier') : null;
    if (!id) log.warn('lambda.extension_not_registered', { status: res.status });
  } catch (err) {
    log.warn('lambda.extension_not_registered', { err });
  }
  if (!id) return drainBeforeAnswer;
  return new ExtensionLoop(base, id, log, fetchImpl);
}

/** The extension's side: one `next` per invocation, asked for only once the previous one's work is drained. */
class ExtensionLoop implements AfterResponse {
  readonly mode = 'extension' as const;
  /** Per request id: resolved when its handler has returned (whichever side sees the request first makes it). */
  private readonly handled = new Map<string, { done: Promise<void>; resolve: () => void }>();
  private background: BackgroundWork | undefined;

  constructor(
    private readonly base: string,
    private readonly id: string,
    private readonly log: Logger,
    private readonly fetchImpl: typeof fetch,
  ) {
    // the first `next` also tells Lambda that this extension's init is done
    void this.loop();
  }

  async invoke<T>(context: InvocationContext, background: BackgroundWork, handle: () => Promise<T>): Promise<T> {
    this.background = background;
    background.setBound(Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS);
    try {
      return await handle();
    } finally {
      this.handledOf(context.awsRequestId).resolve();
    }
  }

  private handledOf(requestId: string) {
    let entry = this.handled.get(requestId);
    if (!entry) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      entry = { done, resolve };
      this.handled.set(requestId, entry);
    }
    return entry;
  }

  private async loop(): Promise<void> {
    for (;;) {
      let event: { eventType?: string; requestId?: string; deadlineMs?: number };
      try {
        const res = await this.fetchImpl(`${this.base}/event/next`, { headers: { 'Lambda-Extension-Identifier': this.id } });
        event = (await res.json()) as typeof event;
      } catch (err) {
        // without `next` Lambda would hold every invocation until its timeout: say so loudly, and stop
        this.log.error('lambda.extension_failed', { err });
        return;
      }
      if (event.eventType !== 'INVOKE' || !event.requestId) continue;
      const deadline = (event.deadlineMs ?? Date.now()) - DEADLINE_MARGIN_MS;
      // the answer has gone out when the handler returned; the work goes on until done or the deadline
      const entry = this.handledOf(event.requestId);
      await settledOrTimeout([entry.done], deadline - Date.now());
      this.handled.delete(event.requestId);
      await this.background?.drain(deadline - Date.now());
    }
  }
}
