/**
 * The broker of a worker process (test/support/*-worker.ts): built in-process, with the real clock,
 * against the shared table, key and simulators its parent named in the environment (WORKER_*).
 */
import { loadConfig } from '../../lib/config.js';
import { localDataKeys } from '../../lib/crypto/local-keys.js';
import { memoryPublisher } from '../../lib/events.js';
import { buildBrokerApp } from '../../lib/http/broker-app.js';
import { ALL_GROUPS } from '../../lib/http/routes/index.js';
import { silentLogger } from '../../lib/log.js';
import { assembleDeps } from '../../lib/runtime/assemble.js';
import { createDb } from '../../lib/store/table.js';

/** A WORKER_* variable the parent must have set. */
export function need(key: string): string {
  const value = process.env[key];
  if (!value) throw new Error(`worker: ${key} is not set`);
  return value;
}

export function workerBroker() {
  const config = loadConfig({
    LONGPORT_ISSUER: need('WORKER_ISSUER'),
    ...(process.env.WORKER_ISSUER_CN ? { LONGPORT_ISSUER_CN: process.env.WORKER_ISSUER_CN } : {}),
    BROKER_PUBLIC_URL: 'http://localhost:8787',
    BROKER_ADMIN_TOKEN: need('WORKER_ADMIN'),
    BROKER_TABLE_NAME: need('WORKER_TABLE'),
    BROKER_API_KEYS: process.env.WORKER_API_KEYS,
  });
  const deps = assembleDeps({
    config,
    db: createDb({ table: config.tableName, endpoint: need('WORKER_DYNAMO') }),
    keys: localDataKeys(Buffer.from(need('WORKER_KEY'), 'base64')),
    events: memoryPublisher(),
    log: silentLogger,
  });
  return { config, deps, app: buildBrokerApp(deps, ALL_GROUPS) };
}
