import { brokerInstance } from './broker-instance.js';
import { dynamoEndpoint } from './dynamo.js';
import { ADMIN_TOKEN, PUBLIC_URL, type Harness } from './harness.js';

/** Another broker instance on a harness's table, local key and provider, on the harness's clock. */
export function anotherInstance(h: Pick<Harness, 'sim' | 'db' | 'clock'>, options: { masterKey: Buffer; env?: Record<string, string> }) {
  const { deps, db, app } = brokerInstance({
    env: { LONGPORT_ISSUER: h.sim.issuer, BROKER_PUBLIC_URL: PUBLIC_URL, BROKER_ADMIN_TOKEN: ADMIN_TOKEN, BROKER_TABLE_NAME: h.db.table, ...options.env },
    dynamoEndpoint: dynamoEndpoint(),
    masterKey: options.masterKey,
    clock: h.clock,
  });
  const request = (method: string, path: string, headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` }) => app.request(`${PUBLIC_URL}${path}`, { method, headers });
  return { deps, db, request };
}
