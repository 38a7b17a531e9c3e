/**
 * Deadlines through the real Lambda handlers (`functions/*.ts`, AWS mode): with the table frozen
 * behind a TCP proxy, every function answers 503 `temporarily_unavailable` with a `Retry-After`
 * while the table is still frozen, and counts `StoreUnavailable` in its log (the metric an alarm
 * reads). The functions' own SDK clients are the ones under test: `DYNAMODB_ENDPOINT` points them
 * at the proxy, nothing else is replaced.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTcpFaultProxy, type TcpFaultProxy } from '../chaos/tcp-proxy.js';
import type { LongPortSimulator } from '../simulator/longport-simulator.js';
import { dynamoEndpoint } from './support/dynamo.js';
import { useLambdaDeployment } from './support/lambda-deployment.js';

const lambda = useLambdaDeployment();
let sim: LongPortSimulator;
let proxy: TcpFaultProxy;
beforeAll(async () => {
  proxy = await startTcpFaultProxy({ port: Number(new URL(dynamoEndpoint()).port) });
  ({ sim } = await lambda.deploy());
  vi.stubEnv('DYNAMODB_ENDPOINT', proxy.url);
  await lambda.coldStart();
  expect((await lambda.registerTenant('acme')).status).toBe(201);
  expect((await lambda.linkAccount('acme', 'alice')).callback.status).toBe(200);
});
afterAll(async () => {
  await proxy?.close();
  await sim?.close();
});

describe('through the Lambda handlers, no request waits on a frozen table', () => {
  it('the token, refresh, accounts, register and authorize functions each answer 503 temporarily_unavailable with a Retry-After of at most 60 s while the table is still frozen, and count StoreUnavailable', async () => {
    await lambda.coldStart();
    await proxy.set('freeze');
    const before = lambda.logLines.length;

    const answers = await Promise.all([
      lambda.send('token', { method: 'GET', url: '/v1/tenants/acme/accounts/alice/token' }),
      lambda.send('refresh', { method: 'POST', url: '/v1/tenants/acme/accounts/alice/refresh' }),
      lambda.send('accounts', { method: 'GET', url: '/v1/tenants/acme/accounts' }),
      lambda.send('register', { method: 'PUT', url: '/v1/tenants/beta', body: { region: 'global' } }),
      lambda.send('authorize', { method: 'POST', url: '/v1/tenants/acme/accounts/bob/link', body: {} }),
    ]);
    const stillFrozen = proxy.mode === 'freeze';
    await proxy.set('pass');

    expect(stillFrozen).toBe(true);
    for (const answer of answers) {
      expect(answer.status, answer.body).toBe(503);
      expect(answer.json()).toMatchObject({ error: 'temporarily_unavailable' });
      expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(answer.headers['retry-after'])).toBeLessThanOrEqual(60);
    }
    const counted = lambda.logLines.slice(before).filter((line) => JSON.parse(line).StoreUnavailable === 1);
    expect(counted.length).toBe(answers.length);
  });

  it('once the table answers again, the same functions serve again', async () => {
    await proxy.set('pass');

    const token = await lambda.send('token', { method: 'GET', url: '/v1/tenants/acme/accounts/alice/token' });

    expect(token.status).toBe(200);
  });
});
