/**
 * The broker of a worker process (test/support/*-worker.ts): built in-process, with the real clock,
 * against the shared table, key and simulators its parent named in the environment (WORKER_*).
 */
import { brokerInstance } from './broker-instance.js';

/** A WORKER_* variable the parent must have set. */
export function need(key: string): string {
  const value = process.env[key];
  if (!value) throw new Error(`worker: ${key} is not set`);
  return value;
}

export function workerBroker() {
  const { config, deps, app } = brokerInstance({
    env: {
      LONGPORT_ISSUER: need('WORKER_ISSUER'),
      ...(process.env.WORKER_ISSUER_CN ? { LONGPORT_ISSUER_CN: process.env.WORKER_ISSUER_CN } : {}),
      BROKER_PUBLIC_URL: 'http://localhost:8787',
      BROKER_ADMIN_TOKEN: need('WORKER_ADMIN'),
      BROKER_TABLE_NAME: need('WORKER_TABLE'),
      BROKER_API_KEYS: process.env.WORKER_API_KEYS,
    },
    dynamoEndpoint: need('WORKER_DYNAMO'),
    masterKey: Buffer.from(need('WORKER_KEY'), 'base64'),
  });
  return { config, deps, app };
}
