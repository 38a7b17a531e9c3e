import type { BackgroundWork } from '../background.js';
import type { BrokerConfig } from '../config.js';
import type { TokenCipher } from '../crypto/token-cipher.js';
import type { EventPublisher } from '../events.js';
import type { Logger } from '../log.js';
import type { DiscoveryCache } from '../oauth/discovery.js';
import type { UpstreamHttp } from '../oauth/upstream.js';
import type { Db } from '../store/table.js';
import type { SingleFlight } from './single-flight.js';
import type { TokenCache } from './token-cache.js';
import type { AuditLog } from './audit-trail.js';
import type { TokenReadCounts } from './read-counts.js';

/** Everything a use case needs, passed in: no use case reaches for a global. */
export interface BrokerDeps {
  config: BrokerConfig;
  db: Db;
  cipher: TokenCipher;
  discovery: DiscoveryCache;
  http: UpstreamHttp;
  events: EventPublisher;
  log: Logger;
  /** ms epoch */
  clock: () => number;
  /** Identifies this process in refresh leases. */
  instanceId: string;
  /** In-process sharing of refreshes (one per account at a time). */
  singleFlight: SingleFlight;
  /** Access tokens of this process's recent answers (never refresh tokens). */
  tokenCache: TokenCache;
  /** Audit records, written before the answers they record (group commit). */
  auditLog: AuditLog;
  /** Repeat and failed token reads, counted in memory and written as `token.reads` events. */
  readCounts: TokenReadCounts;
  /** Work that goes on after the answer: pending commits, tenant jobs, the event outbox. */
  background: BackgroundWork;
}
