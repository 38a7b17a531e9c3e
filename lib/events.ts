import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { eventBridgeSdk } from './aws-sdk.js';
import { settledOrTimeout, type Drainable } from './background.js';
import { BrokerError, upstreamUnavailable } from './errors.js';
import type { Logger } from './log.js';
import { metricFields } from './metrics.js';
import { attemptWithRetries, EVENT_DELIVERY, UnfinishedAttempt } from './retry.js';

/**
 * Lifecycle events of accounts and tenants, for the operator's automation (EventBridge in AWS; the
 * log and an optional webhook locally). Details carry identifiers, reasons and the operator's next
 * step, never token material.
 */
export type BrokerEventType = 'AccountLinked' | 'TokenRefreshFailed' | 'ReauthRequired' | 'AccountRecovered' | 'AccountUnlinked' | 'TenantNeedsOperator';

export interface BrokerEventDetail {
  tenant: string;
  /** Absent on tenant events. */
  account?: string;
  reason?: string;
  [key: string]: string | number | boolean | undefined;
}

export interface EventPublisher {
  /** Hands an event over; resolves at once, never waiting for its delivery. */
  publish(type: BrokerEventType, detail: BrokerEventDetail): Promise<void>;
}

export const EVENT_SOURCE = 'longport-token-broker';

export interface OutgoingEvent {
  type: BrokerEventType;
  detail: BrokerEventDetail;
  /** ISO time the event was published. */
  time: string;
}

/** Delivers events to one receiver. */
export interface EventSender {
  /** Names the receiver in logs (`eventbridge`, `webhook`). */
  readonly name: string;
  /** Events per call. */
  readonly batchSize: number;
  /** Sends `events`; answers those the receiver did not accept, to be sent again. Throws when none went out. */
  send(events: OutgoingEvent[]): Promise<OutgoingEvent[]>;
}

/** Events waiting in one process's outbox at most; more are dropped (and counted). */
export const OUTBOX_CAPACITY = 1_000;

/**
 * The event outbox: events are delivered off the request path. `publish` puts an event in a bounded
 * in-memory queue and returns; one sender loop per process delivers the queue in batches, each
 * batch tried again under {@link EVENT_DELIVERY}. Events are best effort (the audit trail, not the
 * event stream, is the record of what happened), and what is lost is counted, not silent:
 * - an event that finds the queue full is dropped: `EventsDropped`, `event.dropped` in the log;
 * - a batch still undelivered after its attempts: `EventsPublishFailed`, `event.publish_failed`.
 * The queue lives as long as the process; in Lambda the invocation is kept open after the answer
 * until it is drained (`lib/background.ts`).
 */
export class EventOutbox implements EventPublisher, Drainable {
  private readonly queue: OutgoingEvent[] = [];
  private sending: Promise<void> | undefined;
  private droppedUnreported = 0;
  /** Since the process started. */
  readonly counts = { sent: 0, failed: 0, dropped: 0 };

  constructor(
    private readonly sender: EventSender,
    private readonly log: Logger,
    private readonly options: { capacity?: number; sleep?: (ms: number) => Promise<unknown> } = {},
  ) {}

  publish(type: BrokerEventType, detail: BrokerEventDetail): Promise<void> {
    /* Precondition: the outbox is bounded: an event that finds it full is dropped and counted. */
    if (this.queue.length >= (this.options.capacity ?? OUTBOX_CAPACITY)) {
      this.counts.dropped += 1;
      this.droppedUnreported += 1;
    } else {
      this.queue.push({ type, detail, time: new Date().toISOString() });
    }
    this.pump();
    return Promise.resolve();
  }

  /** Events waiting to be sent. */
  get queued(): number {
    return this.queue.length;
  }

  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.sending && Date.now() < deadline) await settledOrTimeout([this.sending], deadline - Date.now());
  }

  private pump(): void {
    if (this.sending) return;
    this.sending = this.sendQueue().finally(() => {
      this.sending = undefined;
      // published while the loop was finishing
      if (this.queue.length > 0) this.pump();
    });
  }

  private async sendQueue(): Promise<void> {
    while (this.queue.length > 0) {
      await this.deliver(this.queue.splice(0, this.sender.batchSize));
      this.reportDropped();
    }
    this.reportDropped();
  }

  private async deliver(batch: OutgoingEvent[]): Promise<void> {
    let left = batch;
    const outcome = await attemptWithRetries(EVENT_DELIVERY, { what: `event delivery (${this.sender.name})`, ...(this.options.sleep ? { sleep: this.options.sleep } : {}) }, async () => {
      left = await this.sender.send(left);
      if (left.length > 0) throw new UnfinishedAttempt(`${this.sender.name} did not accept ${left.length} of the events`);
    });
    if (outcome.ok) {
      this.counts.sent += batch.length;
      return;
    }
    this.counts.sent += batch.length - left.length;
    this.counts.failed += left.length;
    this.log.warn('event.publish_failed', { via: this.sender.name, count: left.length, types: [...new Set(left.map((e) => e.type))], attempts: outcome.attempts, err: outcome.error });
    this.log.info('metrics', metricFields({ EventsPublishFailed: { value: left.length } }));
  }

  private reportDropped(): void {
    if (this.droppedUnreported === 0) return;
    const count = this.droppedUnreported;
    this.droppedUnreported = 0;
    this.log.warn('event.dropped', { via: this.sender.name, count, capacity: this.options.capacity ?? OUTBOX_CAPACITY });
    this.log.info('metrics', metricFields({ EventsDropped: { value: count } }));
  }
}

/**
 * EventBridge PutEvents, up to 10 entries a call; entries it answers with an error code are sent
 * again. `client` is asked for on the first send, so a process that never publishes never loads
 * the EventBridge client.
 */
export function eventBridgeSender(client: () => Promise<EventBridgeClient>, busName: string): EventSender {
  return {
    name: 'eventbridge',
    batchSize: 10,
    async send(events) {
      const { PutEventsCommand } = await eventBridgeSdk();
      const out = await (await client()).send(
        new PutEventsCommand({
          Entries: events.map((e) => ({ EventBusName: busName, Source: EVENT_SOURCE, DetailType: e.type, Detail: JSON.stringify(e.detail), Time: new Date(e.time) })),
        }),
      );
      if (!out.FailedEntryCount) return [];
      // PutEvents answers one result per entry, in order
      return events.filter((_, i) => out.Entries?.[i]?.ErrorCode !== undefined);
    },
  };
}

/** A JSON POST per event: `{ source, detail-type, time, detail }`, as EventBridge would deliver it. */
export function webhookSender(url: string, fetchImpl: typeof fetch = fetch, timeoutMs = 5_000): EventSender {
  return {
    name: 'webhook',
    batchSize: 1,
    async send(events) {
      for (const e of events) {
        const res = await fetchImpl(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ source: EVENT_SOURCE, 'detail-type': e.type, time: e.time, detail: e.detail }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.body?.cancel();
        if (res.status >= 500 || res.status === 429) throw upstreamUnavailable(`the webhook answered HTTP ${res.status}`);
        if (!res.ok) throw new BrokerError('upstream_error', 502, `the webhook answered HTTP ${res.status}`);
      }
      return [];
    },
  };
}

/** AWS mode: the events go to the broker's EventBridge bus, through the outbox. */
export function eventBridgePublisher(client: () => Promise<EventBridgeClient>, busName: string, log: Logger): EventPublisher & Drainable {
  return new EventOutbox(eventBridgeSender(client, busName), log);
}

/** Local mode: every event goes to the log at once, and to `BROKER_WEBHOOK_URL` when set, through the outbox. */
export function localPublisher(log: Logger, webhookUrl?: string, fetchImpl: typeof fetch = fetch): EventPublisher & Drainable {
  const outbox = webhookUrl ? new EventOutbox(webhookSender(webhookUrl, fetchImpl), log) : undefined;
  return {
    publish(type, detail) {
      log.info('event', { type, source: EVENT_SOURCE, detail });
      return outbox ? outbox.publish(type, detail) : Promise.resolve();
    },
    drain: (timeoutMs) => (outbox ? outbox.drain(timeoutMs) : Promise.resolve()),
  };
}

/** Collects events in memory (tests). */
export function memoryPublisher(): EventPublisher & { events: { type: BrokerEventType; detail: BrokerEventDetail }[] } {
  const events: { type: BrokerEventType; detail: BrokerEventDetail }[] = [];
  return {
    events,
    async publish(type, detail) {
      events.push({ type, detail });
    },
  };
}
