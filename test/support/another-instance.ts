import { loadConfig } from '../../lib/config.js';
import { localDataKeys } from '../../lib/crypto/local-keys.js';
import { memoryPublisher } from '../../lib/events.js';
import { buildBrokerApp } from '../../lib/http/broker-app.js';
import { ALL_GROUPS } from '../../lib/http/routes/index.js';
import { silentLogger } from '../../lib/log.js';
import { assembleDeps } from '../../lib/runtime/assemble.js';
import { createDb } from '../../lib/store/table.js';
import { dynamoEndpoint } from './dynamo.js';
import { ADMIN_TOKEN, PUBLIC_URL, type Harness } from './harness.js';

/**
 * Another broker instance on a harness's table, local key and provider — another process, as far as
 * the table can tell: its own DynamoDB client, caches and audit log, the harness's clock.
 */
export function anotherInstance(h: Pick<Harness, 'sim' | 'db' | 'clock'>, options: { masterKey: Buffer; env?: Record<string, string> }) {
  const config = loadConfig({ LONGPORT_ISSUER: h.sim.issuer, BROKER_PUBLIC_URL: PUBLIC_URL, BROKER_ADMIN_TOKEN: ADMIN_TOKEN, BROKER_TABLE_NAME: h.db.table, ...options.env });
  const db = createDb({ table: h.db.table, endpoint: dynamoEndpoint() });
  const deps = assembleDeps({ config, db, keys: localDataKeys(options.masterKey), events: memoryPublisher(), log: silentLogger, clock: h.clock });
  const app = buildBrokerApp(deps, ALL_GROUPS);
  const request = (method: string, path: string, headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` }) => app.request(`${PUBLIC_URL}${path}`, { method, headers });
  return { deps, db, request };
}
