import { randomBytes } from 'node:crypto';
import type { BrokerDeps } from '../../lib/broker/deps.js';
import { loadConfig } from '../../lib/config.js';
import { localDataKeys } from '../../lib/crypto/local-keys.js';
import type { DataKeyProvider } from '../../lib/crypto/token-cipher.js';
import { memoryPublisher } from '../../lib/events.js';
import { buildBrokerApp } from '../../lib/http/broker-app.js';
import { ALL_GROUPS } from '../../lib/http/routes/index.js';
import { createLogger } from '../../lib/log.js';
import { assembleDeps } from '../../lib/runtime/assemble.js';
import type { Db } from '../../lib/store/table.js';
import { startLongPortSimulator, type LongPortSimulator, type SimulatorOptions } from '../../simulator/longport-simulator.js';
import { manualClock, type ManualClock } from './clock.js';
import { freshTable } from './dynamo.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
/** Public base URL of the broker in tests: another site than the simulator (127.0.0.1). */
export const PUBLIC_URL = 'http://localhost:8787';

export interface Harness {
  sim: LongPortSimulator;
  db: Db;
  deps: BrokerDeps;
  app: ReturnType<typeof buildBrokerApp>;
  clock: ManualClock;
  logs: string[];
  events: ReturnType<typeof memoryPublisher>['events'];
  /** The local master key (other processes of a test open the same sealed tokens with it). */
  masterKey: Buffer;
  close(): Promise<void>;
}

/**
 * The broker in-process (every route group, local keys) against a fresh table and a fresh LongPort
 * simulator, sharing one manual clock so tokens expire when the test says so.
 */
export async function startHarness(options: { simulator?: SimulatorOptions; env?: Record<string, string>; db?: Db; keys?: DataKeyProvider } = {}): Promise<Harness> {
  const clock = manualClock();
  const sim = await startLongPortSimulator({ clock, ...options.simulator });
  const db = options.db ?? (await freshTable());
  const logs: string[] = [];
  const masterKey = randomBytes(32);
  const publisher = memoryPublisher();
  const config = loadConfig({
    LONGPORT_ISSUER: sim.issuer,
    BROKER_PUBLIC_URL: PUBLIC_URL,
    BROKER_ADMIN_TOKEN: ADMIN_TOKEN,
    BROKER_TABLE_NAME: db.table,
    ...options.env,
  });
  const deps = assembleDeps({
    config,
    db,
    keys: options.keys ?? localDataKeys(masterKey),
    events: publisher,
    log: createLogger({ sink: (line) => logs.push(line), level: 'debug' }),
    clock,
    http: { fetch: globalThis.fetch, timeoutMs: 5_000 },
  });
  const app = buildBrokerApp(deps, ALL_GROUPS);
  return { sim, db, deps, app, clock, logs, events: publisher.events, masterKey, close: () => sim.close() };
}

export const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
