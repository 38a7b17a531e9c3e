import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * The operator's webhook (`BROKER_WEBHOOK_URL`), as the chaos suite needs it: it answers 200, or
 * hangs — it reads each request and never answers, holding the connection until the broker gives
 * up on it. It records every delivery attempt: the event it carried, whether it was answered, and
 * whether the broker closed the connection first (gave up on the webhook).
 */
export interface WebhookDelivery {
  type: string;
  account: string | undefined;
  /** ms epoch the request arrived. */
  at: number;
  answered: boolean;
  /** ms epoch the broker closed the connection before an answer, if it did. */
  abandonedAt: number | undefined;
}

export interface Webhook {
  url: string;
  readonly deliveries: WebhookDelivery[];
  /** From now on, every request is read and never answered. */
  hang(): void;
  /** From now on, every request is answered 200, and so are the requests held so far. */
  answer(): void;
  /** Attempts the broker abandoned (closed before an answer) at or after `since`. */
  abandonedSince(since: number): WebhookDelivery[];
  /** True when an event of `type` for `account` was answered 200. */
  delivered(type: string, account: string): boolean;
  close(): Promise<void>;
}

export async function startWebhook(): Promise<Webhook> {
  const deliveries: WebhookDelivery[] = [];
  const held = new Set<{ res: ServerResponse; delivery: WebhookDelivery }>();
  let hanging = false;

  const ok = (res: ServerResponse, delivery: WebhookDelivery) => {
    if (res.destroyed || delivery.abandonedAt !== undefined) return;
    delivery.answered = true;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      let event: { 'detail-type'?: unknown; detail?: { account?: unknown } } = {};
      try {
        event = JSON.parse(body) as typeof event;
      } catch {
        // not an event: recorded without a type
      }
      const delivery: WebhookDelivery = {
        type: typeof event['detail-type'] === 'string' ? event['detail-type'] : '?',
        account: typeof event.detail?.account === 'string' ? event.detail.account : undefined,
        at: Date.now(),
        answered: false,
        abandonedAt: undefined,
      };
      deliveries.push(delivery);
      res.on('close', () => {
        if (!delivery.answered) delivery.abandonedAt ??= Date.now();
      });
      if (!hanging) return ok(res, delivery);
      held.add({ res, delivery });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    url: `http://127.0.0.1:${port}/events`,
    deliveries,
    hang: () => (hanging = true),
    answer() {
      hanging = false;
      for (const entry of held) ok(entry.res, entry.delivery);
      held.clear();
    },
    abandonedSince: (since) => deliveries.filter((d) => d.abandonedAt !== undefined && d.abandonedAt >= since),
    delivered: (type, account) => deliveries.some((d) => d.answered && d.type === type && d.account === account),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
