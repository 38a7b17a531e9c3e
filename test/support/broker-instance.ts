import { loadConfig } from '../../lib/config.js';
import { localDataKeys } from '../../lib/crypto/local-keys.js';
import { memoryPublisher } from '../../lib/events.js';
import { buildBrokerApp } from '../../lib/http/broker-app.js';
import { ALL_GROUPS } from '../../lib/http/routes/index.js';
import { silentLogger } from '../../lib/log.js';
import { assembleDeps } from '../../lib/runtime/assemble.js';
import { createDb } from '../../lib/store/table.js';

/**
 * A broker instance of its own on a shared table and key — another process, as far as the table
 * can tell: its own DynamoDB client, caches and audit log. Events are kept in memory, logs dropped.
 */
export function brokerInstance(options: { env: Record<string, string | undefined>; dynamoEndpoint: string; masterKey: Buffer; clock?: () => number }) {
  const config = loadConfig(options.env);
  const db = createDb({ table: config.tableName, endpoint: options.dynamoEndpoint });
  const deps = assembleDeps({ config, db, keys: localDataKeys(options.masterKey), events: memoryPublisher(), log: silentLogger, ...(options.clock ? { clock: options.clock } : {}) });
  return { config, db, deps, app: buildBrokerApp(deps, ALL_GROUPS) };
}
