/**
 * The Lambda's own SDK clients (`lambdaDeps` in lib/runtime/aws.ts, as a cold start builds them)
 * keep their deadlines on the network: each is pointed at a TCP proxy that accepts connections and
 * never answers (`AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL_EVENTBRIDGE`, `DYNAMODB_ENDPOINT`), and
 * each call fails into the 503 `temporarily_unavailable` while the endpoint is still frozen.
 * KMS is real here (no aws-sdk-client-mock in this file).
 */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DecryptCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTcpFaultProxy, type TcpFaultProxy } from '../chaos/tcp-proxy.js';
import { toBrokerError } from '../lib/errors.js';
import { awsClientsOf, lambdaDeps, resetLambdaDeps } from '../lib/runtime/aws.js';
import { dynamoEndpoint } from './support/dynamo.js';

let frozen: TcpFaultProxy;
beforeAll(async () => {
  frozen = await startTcpFaultProxy({ port: Number(new URL(dynamoEndpoint()).port) });
  await frozen.set('freeze');
  const env: Record<string, string> = {
    BROKER_MODE: 'aws',
    BROKER_TABLE_NAME: 'frozen',
    BROKER_KMS_KEY_ID: 'arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    BROKER_PUBLIC_URL: 'https://abc123def4.execute-api.us-east-1.amazonaws.com',
    BROKER_EVENT_BUS_NAME: 'broker-events',
    DYNAMODB_ENDPOINT: frozen.url,
    AWS_ENDPOINT_URL_KMS: frozen.url,
    AWS_ENDPOINT_URL_EVENTBRIDGE: frozen.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDFAKEFORTESTS',
    AWS_SECRET_ACCESS_KEY: 'fake-secret-for-tests',
    AWS_SESSION_TOKEN: '',
  };
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  resetLambdaDeps();
  lambdaDeps('token');
});
afterAll(async () => {
  resetLambdaDeps();
  vi.unstubAllEnvs();
  await frozen?.close();
});

async function failure(call: () => Promise<unknown>) {
  try {
    await call();
  } catch (err) {
    return toBrokerError(err);
  }
  throw new Error('expected the call to fail');
}

describe("the Lambda's SDK clients have a connection and a request deadline", () => {
  it.each([
    ['KMS', () => awsClientsOf('token')!.kms.send(new DecryptCommand({ CiphertextBlob: new Uint8Array(64) }))],
    ['EventBridge', async () => (await awsClientsOf('token')!.eventBridge!).send(new PutEventsCommand({ Entries: [{ EventBusName: 'broker-events', Source: 'test', DetailType: 'Test', Detail: '{}' }] }))],
    ['DynamoDB', () => awsClientsOf('token')!.dynamodb.send(new DescribeTableCommand({ TableName: 'frozen' }))],
  ])('a frozen %s endpoint fails the call with 503 temporarily_unavailable and a Retry-After, while it is still frozen', async (_name, call) => {
    const before = frozen.connections;

    const err = await failure(call);
    const stillFrozen = frozen.mode === 'freeze';

    expect(stillFrozen).toBe(true);
    // the call really went to the frozen endpoint
    expect(frozen.connections - before).toBeGreaterThanOrEqual(1);
    expect(err).toMatchObject({ code: 'temporarily_unavailable', status: 503 });
    expect(err.retryAfterS).toBeGreaterThanOrEqual(1);
  });
});
