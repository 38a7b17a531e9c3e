import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { Logger } from './log.js';

/**
 * Lifecycle events of accounts, for the operator's automation (EventBridge in AWS; the log and an
 * optional webhook locally). Details carry identifiers and reasons, never token material.
 */
export type BrokerEventType = 'AccountLinked' | 'TokenRefreshFailed' | 'ReauthRequired' | 'AccountRecovered' | 'AccountUnlinked';

export interface BrokerEventDetail {
  tenant: string;
  account: string;
  reason?: string;
  [key: string]: string | number | boolean | undefined;
}

export interface EventPublisher {
  publish(type: BrokerEventType, detail: BrokerEventDetail): Promise<void>;
}

export const EVENT_SOURCE = 'longport-token-broker';

/**
 * Events are best effort: a failure to publish is logged and never fails the request that caused
 * it (the audit trail, not the event stream, is the record of what happened).
 */
export function eventBridgePublisher(client: EventBridgeClient, busName: string, log: Logger): EventPublisher {
  return {
    async publish(type, detail) {
      try {
        const out = await client.send(
          new PutEventsCommand({ Entries: [{ EventBusName: busName, Source: EVENT_SOURCE, DetailType: type, Detail: JSON.stringify(detail) }] }),
        );
        if (out.FailedEntryCount) log.warn('event.publish_failed', { type, tenant: detail.tenant, account: detail.account, error: out.Entries?.[0]?.ErrorCode });
      } catch (err) {
        log.warn('event.publish_failed', { type, tenant: detail.tenant, account: detail.account, err });
      }
    },
  };
}

/** Local mode: every event goes to the log, and to `BROKER_WEBHOOK_URL` when set. */
export function localPublisher(log: Logger, webhookUrl?: string, fetchImpl: typeof fetch = fetch): EventPublisher {
  return {
    async publish(type, detail) {
      log.info('event', { type, source: EVENT_SOURCE, detail });
      if (!webhookUrl) return;
      try {
        const res = await fetchImpl(webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ source: EVENT_SOURCE, 'detail-type': type, time: new Date().toISOString(), detail }),
          signal: AbortSignal.timeout(5_000),
        });
        if (!res.ok) log.warn('event.webhook_failed', { type, status: res.status });
      } catch (err) {
        log.warn('event.webhook_failed', { type, err });
      }
    },
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
