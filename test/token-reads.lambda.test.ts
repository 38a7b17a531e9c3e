/**
 * Token reads through the REAL Lambda handlers (`functions/*.ts`) in AWS mode, with literal API
 * Gateway events: what a hit, a miss and a refresh cost in DynamoDB and KMS calls (KMS mocked with
 * aws-sdk-client-mock, `test/support/fake-kms.ts`), what the access log says of each read, the
 * counts a warm instance writes in the background of its invocations, and the trail of a tenant
 * deleted and registered again.
 */
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import { awsClientsOf, lambdaDeps } from '../lib/runtime/aws.js';
import { listAudit } from '../lib/store/audit.js';
import { tokenFingerprint } from '../lib/store/exposures.js';
import type { Db } from '../lib/store/table.js';
import type { LongPortSimulator } from '../simulator/longport-simulator.js';
import { lambdaContext, TEST_PRINCIPAL, type IamPrincipal } from './support/apigw.js';
import { recordCommandsOf } from './support/aws-commands.js';
import { useLambdaDeployment } from './support/lambda-deployment.js';
import { keys } from '../lib/store/schema.js';
import { recordStoreCalls } from './support/store-calls.js';
import { spendDataKey } from './support/data-keys.js';

const lambda = useLambdaDeployment();
const SERVICE: IamPrincipal = { ...TEST_PRINCIPAL, userArn: 'arn:aws:sts::111122223333:assumed-role/quotes-service/task-7' };
const TOKEN_URL = '/v1/tenants/acme/accounts/alice/token';

let sim: LongPortSimulator;
let db: Db;
beforeEach(async () => {
  ({ sim, db } = await lambda.deploy({ accessTokenTtlS: 3600 }));
  lambda.logLines.length = 0;
  expect((await lambda.registerTenant('acme')).status).toBe(201);
  await lambda.linkAccount('acme', 'alice');
});
afterEach(async () => {
  await sim.close();
});

const read = (iam: IamPrincipal = SERVICE) => lambda.send('token', { method: 'GET', url: TOKEN_URL, iam });
const kmsCommands = () => lambda.kms.calls.map((c) => c.command);

/** The DynamoDB calls of a function from now on (its cold start must have happened). */
const storeCallsOf = (fn: 'token' | 'refresh') => recordStoreCalls({ doc: awsClientsOf(fn)!.dynamodb, table: db.table });

/** The `http.access` lines the token function wrote, parsed. */
const accessLines = () =>
  lambda.logLines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.event === 'http.access' && l.function === 'token');

describe('what a token read costs, through the token function', () => {
  it('a cache hit does no I/O at all: no DynamoDB call, no KMS call', async () => {
    expect((await read()).status).toBe(200);
    const calls = storeCallsOf('token');
    lambda.kms.clearCalls();

    const answers = [await read(), await read(), await read()];

    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(calls.names()).toEqual([]);
    expect(kmsCommands()).toEqual([]);
  });

  it('a cache miss of an already-exposed token (a cold instance) costs one GetItem and one KMS Decrypt, and writes nothing', async () => {
    expect((await read()).status).toBe(200);
    await lambda.coldStart();
    lambdaDeps('token');
    const calls = storeCallsOf('token');
    lambda.kms.clearCalls();

    const miss = await read();

    expect(miss.status).toBe(200);
    expect(calls.names()).toEqual(['GetItem']);
    expect(kmsCommands()).toEqual(['Decrypt']);
    expect(lambda.kms.calls[0]!.encryptionContext).toEqual({ tenant: 'acme', account: 'alice', purpose: 'account-tokens' });
  });

  it('a forced refresh (the refresh function) costs one KMS call in all: the Decrypt of the old set, whose data key seals the new one', async () => {
    const before = (await read()).json<{ access_token: string }>().access_token;
    // past any floor on forced refreshes
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 60_000);
    await lambda.coldStart();
    lambda.kms.clearCalls();

    const refreshed = await lambda.send('refresh', { method: 'POST', url: '/v1/tenants/acme/accounts/alice/refresh', iam: SERVICE });

    expect(refreshed.status).toBe(200);
    expect(refreshed.json<{ access_token: string }>().access_token).not.toBe(before);
    expect(kmsCommands()).toEqual(['Decrypt']);
  });

  it('a refresh on the token route (the token is due) costs one KMS call in all', async () => {
    expect((await read()).status).toBe(200);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3570 * 1000);
    // the next invocation reads the moved clock (a cold start), as flow.lambda does
    await lambda.coldStart();
    lambda.kms.clearCalls();

    const refreshed = await read();

    expect(refreshed.status).toBe(200);
    expect(sim.stats.refreshGrants).toBe(1);
    expect(kmsCommands()).toEqual(['Decrypt']);
  });

  it('the access log line of each read names its generation and how it was served (miss, hit, refreshed), never the token', async () => {
    const first = await read();
    await read();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3570 * 1000);
    await lambda.coldStart();
    const refreshed = await read();

    const lines = accessLines().filter((l) => l.route === 'GET /v1/tenants/{tenant}/accounts/{account}/token');
    expect(lines.map((l) => [l.status, l.cache, typeof l.generation])).toEqual([
      [200, 'miss', 'number'],
      [200, 'hit', 'number'],
      [200, 'refreshed', 'number'],
    ]);
    expect(lines[2]!.generation).toBe((lines[0]!.generation as number) + 1);
    expect(lines[0]).toMatchObject({ method: 'GET', tenant: 'acme', account: 'alice', caller: SERVICE.userArn });
    const text = lambda.logLines.join('\n');
    for (const token of [first, refreshed].map((a) => a.json<{ access_token: string }>().access_token)) expect(text).not.toContain(token);
  });
});

const spendAlicesDataKey = () => spendDataKey(db, keys.account('acme', 'alice'), 'sealedTokens', accountTokensContext('acme', 'alice'));

describe('a data key that has sealed 24 token sets is not used again: the next refresh asks KMS for a new one', () => {
  const refreshedOnce = async (refresh: () => Promise<unknown>) => {
    await spendAlicesDataKey();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3570 * 1000);
    await lambda.coldStart();
    lambda.kms.clearCalls();
    await refresh();
    const sealed = (await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.account('acme', 'alice'), ConsistentRead: true }))).Item!.sealedTokens as string;
    return { commands: kmsCommands(), seals: sealed.split('.')[3] };
  };

  it('through the refresh function', async () => {
    const outcome = await refreshedOnce(async () => expect((await lambda.send('refresh', { method: 'POST', url: '/v1/tenants/acme/accounts/alice/refresh', iam: SERVICE })).status).toBe(200));

    expect(outcome).toEqual({ commands: ['Decrypt', 'GenerateDataKey'], seals: '1' });
  });

  it('through the token function (a token that is due)', async () => {
    const outcome = await refreshedOnce(async () => expect((await read()).status).toBe(200));

    expect(outcome).toEqual({ commands: ['Decrypt', 'GenerateDataKey'], seals: '1' });
  });

  it('through the scheduled refresher', async () => {
    const outcome = await refreshedOnce(async () => {
      const { handler } = await import('../functions/refresher.js');
      lambdaDeps('refresher');
      await recordCommandsOf('refresher');
      expect(await handler({}, lambdaContext(60_000, 'refresher'))).toMatchObject({ due: 1, refreshed: 1 });
    });

    expect(outcome).toEqual({ commands: ['Decrypt', 'GenerateDataKey'], seals: '1' });
  });
});

describe('the trail of token reads, through the Lambda handlers', () => {
  it('counts of repeat reads are written in the background of a later invocation, never on its answer\'s path', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    for (let i = 0; i < 4; i++) expect((await read()).status).toBe(200);
    // the trail's writes hang until released: the answer must not wait for them
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    awsClientsOf('token')!.dynamodb.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { Item?: { pk?: unknown } };
        if (String(input.Item?.pk ?? '').startsWith('AUDIT#')) await released;
        return next(args);
      },
      { step: 'initialize', name: 'holdAuditWrites' },
    );
    vi.advanceTimersByTime(30_000);

    const answered = await read();
    const whileHeld = (await listAudit(db, 'acme', { limit: 50, account: 'alice' })).events.filter((e) => e.action === 'token.reads');
    release();

    expect(answered.status).toBe(200);
    expect(whileHeld).toEqual([]);
    await expect.poll(async () => (await listAudit(db, 'acme', { limit: 50, account: 'alice' })).events.filter((e) => e.action === 'token.reads').map((e) => [e.caller, e.count])).toEqual([[SERVICE.userArn, 3]]);
  });

  it('one token.read per caller and token, whichever instance serves it (a warm one, then a cold one)', async () => {
    const token = (await read()).json<{ access_token: string }>().access_token;
    await lambda.coldStart();
    await read();

    const events = (await listAudit(db, 'acme', { limit: 50, fingerprint: tokenFingerprint(token) })).events;

    expect(events.map((e) => [e.action, e.caller])).toEqual([['token.read', SERVICE.userArn]]);
  });

  it('a tenant deleted and registered again starts a new trail; the old one is not readable through the new tenant', async () => {
    const old = (await read()).json<{ access_token: string }>().access_token;
    expect((await lambda.send('register', { method: 'DELETE', url: '/v1/tenants/acme' })).status).toBe(204);
    expect((await lambda.registerTenant('acme')).status).toBe(201);

    const trail = await lambda.send('accounts', { method: 'GET', url: '/v1/tenants/acme/audit' });
    const byToken = await lambda.send('accounts', { method: 'GET', url: `/v1/tenants/acme/audit?token_fingerprint=${tokenFingerprint(old)}` });
    const byAccount = await lambda.send('accounts', { method: 'GET', url: '/v1/tenants/acme/audit?account=alice' });

    expect(trail.json<{ events: { action: string }[] }>().events.map((e) => e.action)).toEqual(['tenant.register']);
    expect([byToken.json<{ events: unknown[] }>().events, byAccount.json<{ events: unknown[] }>().events]).toEqual([[], []]);
  });

  it('a read for a tenant that was never registered creates no trail: its failure count is dropped', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    expect((await lambda.send('token', { method: 'GET', url: '/v1/tenants/ghost/accounts/alice/token', iam: SERVICE })).status).toBe(404);
    vi.advanceTimersByTime(30_000);

    expect((await read()).status).toBe(200);

    await expect.poll(() => lambda.logLines.some((l) => l.includes('"event":"audit.counts_dropped"') && l.includes('"tenant":"ghost"'))).toBe(true);
    const items = (await db.doc.send(new ScanCommand({ TableName: db.table, ConsistentRead: true }))).Items ?? [];
    expect(items.filter((i) => String(i.pk).startsWith('AUDIT#ghost'))).toEqual([]);
  });
});
