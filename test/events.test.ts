import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { EventOutbox, eventBridgePublisher, localPublisher, type EventSender, type OutgoingEvent } from '../lib/events.js';
import { createLogger } from '../lib/log.js';
import { api, linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';

const servers: ReturnType<typeof createServer>[] = [];
const hanging: ServerResponse[] = [];
let h: Harness | undefined;
afterEach(async () => {
  for (const res of hanging.splice(0)) res.destroy();
  for (const s of servers.splice(0)) s.close();
  await h?.close();
  h = undefined;
});

/** A webhook receiver answering `statuses` in turn (the last one from then on); `hang` never answers. */
async function webhook(...statuses: (number | 'hang')[]) {
  const received: { headers: Record<string, unknown>; body: Record<string, unknown> }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(body) as Record<string, unknown> });
      const status = statuses[Math.min(received.length, statuses.length) - 1] ?? 204;
      if (status === 'hang') hanging.push(res);
      else res.writeHead(status).end();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

function logLines() {
  const lines: string[] = [];
  const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log: createLogger({ sink: (l) => lines.push(l) }), parsed };
}

describe('local events', () => {
  it('go to the log at once and, when BROKER_WEBHOOK_URL is set, as a JSON POST with source, detail-type and detail', async () => {
    const hook = await webhook();
    const { log, parsed } = logLines();
    const events = localPublisher(log, hook.url);

    await events.publish('ReauthRequired', { tenant: 'acme', account: 'alice', reason: 'invalid_grant' });
    await events.drain(5_000);

    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]!.headers['content-type']).toBe('application/json');
    expect(hook.received[0]!.body).toMatchObject({ source: 'longport-token-broker', 'detail-type': 'ReauthRequired', detail: { tenant: 'acme', account: 'alice', reason: 'invalid_grant' } });
    expect(parsed()).toContainEqual(expect.objectContaining({ event: 'event', type: 'ReauthRequired' }));
  });

  it('webhooks are delivered off the request path: with a webhook that never answers, an unlink and a forced refresh answer at once', async () => {
    const hook = await webhook('hang');
    h = await startHarness();
    h.deps.events = localPublisher(createLogger({ sink: () => {} }), hook.url);
    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, 'acme', 'bob');
    h.clock.advance(20_000);

    const refresh = await api(h, 'POST', '/v1/tenants/acme/accounts/alice/refresh');
    const unlink = await api(h, 'DELETE', '/v1/tenants/acme/accounts/bob');

    expect([refresh.status, unlink.status]).toEqual([200, 204]);
    // answered while the webhook still holds the first event unanswered: the unlink's own event waits in the outbox
    expect(hanging.length).toBe(hook.received.length);
    expect(hook.received.map((r) => r.body['detail-type'])).not.toContain('AccountUnlinked');
  });

  it('a failing webhook is tried 3 times, then counted: event.publish_failed and EventsPublishFailed, never failing the request', async () => {
    const hook = await webhook(500);
    const { log, parsed } = logLines();
    const events = localPublisher(log, hook.url);

    await expect(events.publish('AccountLinked', { tenant: 'acme', account: 'alice' })).resolves.toBeUndefined();
    await events.drain(10_000);

    expect(hook.received).toHaveLength(3);
    expect(parsed()).toContainEqual(expect.objectContaining({ event: 'event.publish_failed', via: 'webhook', count: 1, attempts: 3 }));
    expect(parsed()).toContainEqual(expect.objectContaining({ event: 'metrics', EventsPublishFailed: 1 }));
  });

  it('a webhook that fails once is tried again and gets the event', async () => {
    const hook = await webhook(503, 204);
    const { log, parsed } = logLines();
    const events = localPublisher(log, hook.url);

    await events.publish('AccountLinked', { tenant: 'acme', account: 'alice' });
    await events.drain(10_000);

    expect(hook.received.map((r) => r.body['detail-type'])).toEqual(['AccountLinked', 'AccountLinked']);
    expect(parsed().map((l) => l.event)).not.toContain('event.publish_failed');
  });
});

describe('the event outbox', () => {
  /** A sender that holds every call until released. */
  function heldSender() {
    const batches: OutgoingEvent[][] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const sender: EventSender = {
      name: 'held',
      batchSize: 1,
      async send(events) {
        batches.push(events);
        await released;
        return [];
      },
    };
    return { sender, batches, release };
  }

  it('the outbox is bounded: an event that finds it full is dropped and counted (event.dropped, EventsDropped)', async () => {
    const held = heldSender();
    const { log, parsed } = logLines();
    const outbox = new EventOutbox(held.sender, log, { capacity: 5 });

    for (let i = 0; i < 10; i++) await outbox.publish('TokenRefreshFailed', { tenant: 'acme', account: `user-${i}`, reason: 'upstream_unavailable' });
    const queuedWhileHeld = outbox.queued;
    held.release();
    await outbox.drain(5_000);

    // one in flight, five queued, four dropped
    expect(queuedWhileHeld).toBe(5);
    expect(outbox.counts).toEqual({ sent: 6, failed: 0, dropped: 4 });
    expect(held.batches.map((b) => b[0]!.detail.account)).toEqual(['user-0', 'user-1', 'user-2', 'user-3', 'user-4', 'user-5']);
    expect(parsed()).toContainEqual(expect.objectContaining({ event: 'event.dropped', count: 4 }));
    expect(parsed()).toContainEqual(expect.objectContaining({ event: 'metrics', EventsDropped: 4 }));
  });

  it('EventBridge: entries PutEvents refuses are sent again, the accepted ones are not', async () => {
    const eventBridge = mockClient(EventBridgeClient);
    try {
      // EventBridge refuses bob's entry the first time it sees it (a per-entry error code), accepts the rest
      let bobRefused = false;
      eventBridge.on(PutEventsCommand).callsFake((input: { Entries: { Detail: string }[] }) => {
        const results = input.Entries.map((e) => {
          const refuse = !bobRefused && JSON.parse(e.Detail).account === 'bob';
          if (refuse) bobRefused = true;
          return refuse ? { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' } : { EventId: 'e' };
        });
        return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
      });
      const { log } = logLines();
      const outbox = eventBridgePublisher(async () => new EventBridgeClient({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } }), 'bus', log);

      await outbox.publish('AccountLinked', { tenant: 'acme', account: 'alice' });
      await outbox.publish('AccountLinked', { tenant: 'acme', account: 'bob' });
      await outbox.drain(5_000);

      const calls = eventBridge.commandCalls(PutEventsCommand).map((c) => (c.args[0].input.Entries ?? []).map((e) => JSON.parse(e.Detail!).account));
      expect(calls.flat().filter((a) => a === 'bob')).toHaveLength(2);
      expect(calls.flat().filter((a) => a === 'alice')).toHaveLength(1);
      expect((outbox as EventOutbox).counts).toEqual({ sent: 2, failed: 0, dropped: 0 });
    } finally {
      eventBridge.restore();
    }
  });

  it('EventBridge: the client is asked for only when a batch goes out, not when the publisher is made', async () => {
    const eventBridge = mockClient(EventBridgeClient);
    try {
      eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });
      let made = 0;
      const client = async () => {
        made += 1;
        return new EventBridgeClient({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } });
      };
      const outbox = eventBridgePublisher(client, 'bus', logLines().log);
      const madeBeforeAnyEvent = made;

      await outbox.publish('AccountLinked', { tenant: 'acme', account: 'alice' });
      await outbox.drain(5_000);

      expect(madeBeforeAnyEvent).toBe(0);
      expect(made).toBe(1);
      expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(1);
    } finally {
      eventBridge.restore();
    }
  });
});
