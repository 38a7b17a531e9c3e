import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { localPublisher } from '../lib/events.js';
import { createLogger } from '../lib/log.js';

describe('local events', () => {
  const servers: ReturnType<typeof createServer>[] = [];
  afterEach(() => servers.forEach((s) => s.close()));

  async function webhook(status = 204) {
    const received: { headers: Record<string, unknown>; body: Record<string, unknown> }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        received.push({ headers: req.headers, body: JSON.parse(body) as Record<string, unknown> });
        res.writeHead(status).end();
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
  }

  it('go to the log and, when BROKER_WEBHOOK_URL is set, as a JSON POST with source, detail-type and detail', async () => {
    const hook = await webhook();
    const lines: string[] = [];
    const events = localPublisher(createLogger({ sink: (l) => lines.push(l) }), hook.url);

    await events.publish('ReauthRequired', { tenant: 'acme', account: 'alice', reason: 'invalid_grant' });

    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]!.headers['content-type']).toBe('application/json');
    expect(hook.received[0]!.body).toMatchObject({ source: 'longport-token-broker', 'detail-type': 'ReauthRequired', detail: { tenant: 'acme', account: 'alice', reason: 'invalid_grant' } });
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toContainEqual(expect.objectContaining({ event: 'event', type: 'ReauthRequired' }));
  });

  it('a failing webhook is logged and never fails the request that caused the event', async () => {
    const hook = await webhook(500);
    const lines: string[] = [];
    const events = localPublisher(createLogger({ sink: (l) => lines.push(l) }), hook.url);

    await expect(events.publish('AccountLinked', { tenant: 'acme', account: 'alice' })).resolves.toBeUndefined();

    expect(lines.some((l) => l.includes('event.webhook_failed') && l.includes('"status":500'))).toBe(true);
  });
});
