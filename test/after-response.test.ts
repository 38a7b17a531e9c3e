import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BackgroundWork } from '../lib/background.js';
import { silentLogger } from '../lib/log.js';
import { EXTENSION_NAME, registerAfterResponse } from '../lib/runtime/after-response.js';

/**
 * The after-response extension against a stand-in for the Lambda Runtime API's extension endpoints
 * (register, event/next), which records the order of what happens: Lambda's side of the contract is
 * that an invocation stays open until every registered extension has asked for the next event.
 */
interface FakeRuntimeApi {
  host: string;
  order: string[];
  registered: { name: string | undefined; body: unknown }[];
  /** Starts an invocation: answers the extension's pending `next`. */
  invoke(requestId: string, deadlineMs: number): void;
  /** Resolves once the extension has called `next` `n` times. */
  nextCalled(n: number): Promise<void>;
}

const servers: ReturnType<typeof createServer>[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

async function fakeRuntimeApi(options: { registerStatus?: number } = {}): Promise<FakeRuntimeApi> {
  const order: string[] = [];
  const registered: FakeRuntimeApi['registered'] = [];
  const pending: ServerResponse[] = [];
  let nextCalls = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/2020-01-01/extension/register') {
        registered.push({ name: req.headers['lambda-extension-name'] as string | undefined, body: JSON.parse(body) });
        res.writeHead(options.registerStatus ?? 200, { 'lambda-extension-identifier': 'ext-1', 'content-type': 'application/json' }).end('{}');
        return;
      }
      if (req.method === 'GET' && req.url === '/2020-01-01/extension/event/next' && req.headers['lambda-extension-identifier'] === 'ext-1') {
        nextCalls += 1;
        order.push('next');
        pending.push(res);
        for (const w of waiters.filter((w) => nextCalls >= w.n)) w.resolve();
        return;
      }
      res.writeHead(404).end();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    order,
    registered,
    invoke(requestId, deadlineMs) {
      const res = pending.shift();
      if (!res) throw new Error('the extension is not waiting for an event');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ eventType: 'INVOKE', requestId, deadlineMs, invokedFunctionArn: 'arn:aws:lambda:us-east-1:1:function:f' }));
    },
    nextCalled: (n) => (nextCalls >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

/** A Lambda context whose remaining time counts down to `deadlineMs`, as the runtime's does. */
const context = (awsRequestId: string, deadlineMs: number) => ({ awsRequestId, getRemainingTimeInMillis: () => deadlineMs - Date.now() });

describe('background work in Lambda (the after-response extension)', () => {
  it('the answer goes out before the background work ends, and the next invocation is asked for only once the work is drained', async () => {
    const api = await fakeRuntimeApi();
    const background = new BackgroundWork(silentLogger);
    const after = await registerAfterResponse(api.host, silentLogger);
    await api.nextCalled(1);
    const deadline = Date.now() + 20_000;
    api.invoke('r1', deadline);
    let finish!: () => void;

    const answer = await after.invoke(context('r1', deadline), background, async () => {
      background.run('a pending commit', () => new Promise<void>((resolve) => (finish = resolve)));
      return 'answer';
    });
    api.order.push(`handler returned ${answer}`);
    api.order.push('work finished');
    finish();
    await api.nextCalled(2);

    expect(after.mode).toBe('extension');
    expect(api.registered).toEqual([{ name: EXTENSION_NAME, body: { events: ['INVOKE'] } }]);
    expect(api.order).toEqual(['next', 'handler returned answer', 'work finished', 'next']);
  });

  it("background work is bounded by the invocation's deadline: the extension asks for the next event then, work still running", async () => {
    const api = await fakeRuntimeApi();
    const background = new BackgroundWork(silentLogger);
    const after = await registerAfterResponse(api.host, silentLogger);
    await api.nextCalled(1);
    const deadline = Date.now() + 1_000;
    api.invoke('r1', deadline);

    await after.invoke(context('r1', deadline), background, async () => {
      background.run('work that never ends', () => new Promise<void>(() => {}));
    });
    await api.nextCalled(2);

    expect(background.pending).toBe(1);
    expect(background.remainingMs()).toBe(0);
  });

  it('without a registered extension, each invocation drains its background work before it answers', async () => {
    const api = await fakeRuntimeApi({ registerStatus: 403 });
    const background = new BackgroundWork(silentLogger);
    const after = await registerAfterResponse(api.host, silentLogger);
    const order: string[] = [];

    await after.invoke(context('r1', Date.now() + 10_000), background, async () => {
      background.run('work', async () => order.push('work finished'));
      order.push('handler returned');
    });
    order.push('answered');

    expect(after.mode).toBe('drain-before-answer');
    expect(order).toEqual(['handler returned', 'work finished', 'answered']);
  });

  it('outside Lambda (no Runtime API) nothing is registered and the work runs on in the process', async () => {
    const after = await registerAfterResponse(undefined, silentLogger);

    expect(after.mode).toBe('in-process');
  });
});
