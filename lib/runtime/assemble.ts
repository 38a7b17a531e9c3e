import { randomBytes } from 'node:crypto';
import { BackgroundWork, type Drainable } from '../background.js';
import type { BrokerDeps } from '../broker/deps.js';
import { SingleFlight } from '../broker/single-flight.js';
import { TokenCache } from '../broker/token-cache.js';
import { AuditLog } from '../broker/audit-trail.js';
import { TokenReadCounts } from '../broker/read-counts.js';
import type { BrokerConfig } from '../config.js';
import { createTokenCipher, type DataKeyProvider } from '../crypto/token-cipher.js';
import type { EventPublisher } from '../events.js';
import type { Logger } from '../log.js';
import { DiscoveryCache } from '../oauth/discovery.js';
import { defaultUpstreamHttp, type UpstreamHttp } from '../oauth/upstream.js';
import type { Db } from '../store/table.js';

/** Wires the broker's parts together; AWS and local mode differ only in the parts they pass. */
export function assembleDeps(parts: {
  config: BrokerConfig;
  db: Db;
  keys: DataKeyProvider;
  events: EventPublisher;
  log: Logger;
  http?: UpstreamHttp;
  clock?: () => number;
}): BrokerDeps {
  const http = parts.http ?? defaultUpstreamHttp();
  // read through Date each time, so that a test faking Date moves the broker's clock too
  const clock = parts.clock ?? (() => Date.now());
  const background = new BackgroundWork(parts.log);
  // an outbox (lib/events.ts) sends after the answer: draining the background drains it too
  if (isDrainable(parts.events)) background.attach(parts.events);
  // Lambda serves one request at a time: every record is its own PutItem (no BatchWriteItem grant,
  // which would also allow deletes); a long-running local server batches under load
  const auditLog = new AuditLog(parts.db, parts.config.auditDays, parts.log, parts.config.mode === 'aws' ? Number.POSITIVE_INFINITY : 1);
  const deps: BrokerDeps = {
    config: parts.config,
    db: parts.db,
    cipher: createTokenCipher(parts.keys, { clock }),
    discovery: new DiscoveryCache(http, clock),
    http,
    events: parts.events,
    log: parts.log,
    clock,
    instanceId: `i-${randomBytes(8).toString('hex')}`,
    singleFlight: new SingleFlight(),
    tokenCache: new TokenCache(),
    auditLog,
    readCounts: undefined as unknown as TokenReadCounts,
    background,
  };
  // the counts read the broker's clock and audit log where the deps hold them
  deps.readCounts = new TokenReadCounts(deps);
  return deps;
}

const isDrainable = (x: object): x is Drainable => typeof (x as Partial<Drainable>).drain === 'function';
