/**
 * One broker process that starts a long tenant operation and keeps working on it in the background
 * until it is killed: it builds the broker against the shared table, key and simulators named in
 * its environment (real clock), sends WORKER_METHOD WORKER_PATH (JSON WORKER_BODY) through the
 * HTTP app, prints `status <code>` and stays alive, its background work going on.
 */
import { loadConfig } from '../../lib/config.js';
import { localDataKeys } from '../../lib/crypto/local-keys.js';
import { memoryPublisher } from '../../lib/events.js';
import { buildBrokerApp } from '../../lib/http/broker-app.js';
import { ALL_GROUPS } from '../../lib/http/routes/index.js';
import { silentLogger } from '../../lib/log.js';
import { assembleDeps } from '../../lib/runtime/assemble.js';
import { createDb } from '../../lib/store/table.js';

const env = process.env;
const need = (key: string): string => {
  const value = env[key];
  if (!value) throw new Error(`job-worker: ${key} is not set`);
  return value;
};

const config = loadConfig({
  LONGPORT_ISSUER: need('WORKER_ISSUER'),
  ...(env.WORKER_ISSUER_CN ? { LONGPORT_ISSUER_CN: env.WORKER_ISSUER_CN } : {}),
  BROKER_PUBLIC_URL: 'http://localhost:8787',
  BROKER_ADMIN_TOKEN: need('WORKER_ADMIN'),
  BROKER_TABLE_NAME: need('WORKER_TABLE'),
});
const deps = assembleDeps({
  config,
  db: createDb({ table: config.tableName, endpoint: need('WORKER_DYNAMO') }),
  keys: localDataKeys(Buffer.from(need('WORKER_KEY'), 'base64')),
  events: memoryPublisher(),
  log: silentLogger,
});
const app = buildBrokerApp(deps, ALL_GROUPS);

const res = await app.request(`http://localhost:8787${need('WORKER_PATH')}`, {
  method: need('WORKER_METHOD'),
  headers: { authorization: `Bearer ${config.local.adminToken}`, 'content-type': 'application/json' },
  ...(env.WORKER_BODY ? { body: env.WORKER_BODY } : {}),
});
process.stdout.write(`status ${res.status}\n`);
// the job goes on in this process's background until it ends or the test kills the process
setInterval(() => {
  if (deps.background.pending === 0) process.stdout.write('idle\n');
}, 200);
