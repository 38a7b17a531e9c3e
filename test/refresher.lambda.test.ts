import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import { kmsDataKeys } from '../lib/crypto/kms-keys.js';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TENANT_REMOVAL } from '../lib/broker/tenant-removal.js';
import { newJob } from '../lib/broker/tenant-jobs.js';
import { getAccount } from '../lib/store/accounts.js';
import { keys } from '../lib/store/schema.js';
import { startTenantJob } from '../lib/store/tenant-updates.js';
import { getTenant } from '../lib/store/tenants.js';
import { getRefresherReport } from '../lib/store/refresher-report.js';
import type { AccountTokens } from '../lib/store/records.js';
import { lambdaContext } from './support/apigw.js';
import { recordCommandsOf, recordMockedCall } from './support/aws-commands.js';
import { dynamoEndpoint } from './support/dynamo.js';
import { captureJsonLogLines } from './support/stdout.js';
import { installFakeKms, type FakeKms } from './support/fake-kms.js';
import { api, linkAccount } from './support/flow.js';
import { PUBLIC_URL, startHarness, type Harness } from './support/harness.js';

/**
 * The scheduled refresher through its real Lambda handler (`functions/refresher.ts`), in AWS mode:
 * KMS and EventBridge mocked with aws-sdk-client-mock, DynamoDB Local, the LongPort simulator.
 */
let h: Harness;
let kms: FakeKms;
const eventBridge = mockClient(EventBridgeClient);
const stdout: string[] = [];

beforeAll(async () => {
  kms = installFakeKms();
  eventBridge.on(PutEventsCommand).callsFake((_input: unknown, getClient: () => unknown) => {
    recordMockedCall(getClient(), 'events', 'PutEvents');
    return { FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] };
  });
  // accounts are linked in-process with the same (fake) KMS key the Lambda will use
  h = await startHarness({ keys: kmsDataKeys(new KMSClient({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } }), kms.keyArn) });
  for (const account of ['alice', 'bob', 'carol']) await linkAccount(h, 'acme', account);
  const env: Record<string, string> = {
    BROKER_MODE: 'aws',
    BROKER_TABLE_NAME: h.db.table,
    BROKER_KMS_KEY_ID: kms.keyArn,
    BROKER_PUBLIC_URL: PUBLIC_URL,
    LONGPORT_ISSUER: h.sim.issuer,
    DYNAMODB_ENDPOINT: dynamoEndpoint(),
    BROKER_EVENT_BUS_NAME: 'longport-token-broker',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDTEST',
    AWS_SECRET_ACCESS_KEY: 'test',
  };
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  captureJsonLogLines(stdout);
});

afterAll(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  eventBridge.restore();
  kms.restore();
  await h.close();
});

describe('functions/refresher.ts (EventBridge schedule → Lambda)', () => {
  it('refreshes every due account, publishes ReauthRequired for the one the provider refuses, and emits EMF metrics', async () => {
    // the harness's clock stands hours behind the Lambda's real clock: to it every token is due
    const carol = await h.deps.cipher.open<AccountTokens>((await getAccount(h.db, 'acme', 'carol'))!.sealedTokens, accountTokensContext('acme', 'carol'));
    await fetch(`${h.sim.url}/oauth2/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: carol.refresh_token!, token_type_hint: 'refresh_token', client_id: (await getTenantClientId()) }).toString(),
    });
    kms.clearCalls();
    const { handler } = await import('../functions/refresher.js');
    recordCommandsOf('refresher');

    const result = await handler({ 'detail-type': 'Scheduled Event', source: 'aws.scheduler' }, lambdaContext(60_000, 'refresher'));

    expect(result).toMatchObject({ due: 3, refreshed: 2, failed: { reauth_required: 1 } });
    expect(h.sim.stats.refreshGrants).toBe(2);
    expect((await getAccount(h.db, 'acme', 'carol'))!.status).toBe('needs_reauth');
    // KMS: the configured key, and each call bound to exactly its own account
    expect(kms.calls.length).toBeGreaterThan(0);
    expect(kms.calls.every((c) => c.keyId === kms.keyArn && c.encryptionContext?.tenant === 'acme' && c.encryptionContext?.purpose === 'account-tokens')).toBe(true);
    const published = eventBridge.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []);
    const reauth = published.filter((e) => e.DetailType === 'ReauthRequired');
    expect(reauth).toHaveLength(1);
    expect(reauth[0]).toMatchObject({ Source: 'longport-token-broker', EventBusName: 'longport-token-broker' });
    expect(JSON.parse(reauth[0]!.Detail!)).toEqual({ tenant: 'acme', account: 'carol', reason: 'invalid_grant' });
    expect(JSON.stringify(published)).not.toContain(carol.refresh_token!);
    const metrics = stdout.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l._aws && 'RefreshSucceeded' in l);
    expect(metrics).toMatchObject({ AccountsDue: 3, RefreshSucceeded: 2, RefreshFailed: 1, RevocationsPending: 0 });
    expect((metrics!._aws as { CloudWatchMetrics: { Namespace: string }[] }).CloudWatchMetrics[0]!.Namespace).toBe('LongPortTokenBroker');
  });

  it('a second run right after finds nothing due: the refreshed accounts moved on, the dead one left the index', async () => {
    const { handler } = await import('../functions/refresher.js');
    recordCommandsOf('refresher');
    const grants = h.sim.stats.refreshGrants;

    const result = await handler({}, lambdaContext(60_000, 'refresher'));

    expect(result).toMatchObject({ due: 0, refreshed: 0 });
    expect(h.sim.stats.refreshGrants).toBe(grants);
  });

  it('takes up a tenant deletion whose process died and retries the revocations the provider could not take, until both are done', async () => {
    for (const account of ['x', 'y']) await linkAccount(h, 'gone', account);
    await linkAccount(h, 'acme', 'dan');
    for (const [tenant, account] of [['gone', 'x'], ['gone', 'y'], ['acme', 'dan']]) {
      // not due for a refresh: this run is about the job and the revocation
      await h.db.doc.send(new UpdateCommand({ TableName: h.db.table, Key: keys.account(tenant!, account!), UpdateExpression: 'REMOVE dueShard, dueAt' }));
    }
    const dan = await h.deps.cipher.open<AccountTokens>((await getAccount(h.db, 'acme', 'dan'))!.sealedTokens, accountTokensContext('acme', 'dan'));
    h.sim.setFaults({ revocationStatus: 503, retryAfterS: 0 });
    expect((await api(h, 'DELETE', '/v1/tenants/acme/accounts/dan')).status).toBe(204);
    h.sim.resetFaults();
    // the deletion as a process that died right after starting it left it: state, job, due now
    const gone = (await getTenant(h.db, 'gone'))!;
    expect(await startTenantJob(h.db, gone, 'deleting', newJob(TENANT_REMOVAL, 'admin', h.clock()), h.clock())).toBeDefined();
    const { handler } = await import('../functions/refresher.js');
    recordCommandsOf('refresher');

    const result = await handler({}, lambdaContext(60_000, 'refresher'));

    expect(result).toMatchObject({ jobs: { resumed: 1, finished: 1 }, revocations: { pending: 0, revoked: 1, givenUp: 0 } });
    expect(await getTenant(h.db, 'gone')).toBeUndefined();
    expect(h.sim.stats.revocations).toContain(dan.refresh_token);
    const metrics = stdout.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l._aws && 'RevocationsPending' in l);
    expect(metrics.at(-1)).toMatchObject({ RevocationsPending: 0 });
  });

  it("writes the last run's report to one item, for the refresher-health route", async () => {
    const report = await getRefresherReport(h.db);

    expect(report).toMatchObject({ due: 0, refreshed: 0, skipped: 0, failed: {}, stoppedEarly: false, jobs: { resumed: 1, finished: 1 }, revocations: { pending: 0, revoked: 1, givenUp: 0 } });
    expect(Date.parse(report!.at)).not.toBeNaN();
  });
});

async function getTenantClientId(): Promise<string> {
  const { getTenant } = await import('../lib/store/tenants.js');
  return (await getTenant(h.db, 'acme'))!.clientId;
}
