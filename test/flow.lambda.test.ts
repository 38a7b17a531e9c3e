/**
 * The full flow through the REAL Lambda handlers (`functions/*.ts`), driven with literal API Gateway
 * HTTP API payload 2.0 events, in AWS mode: DynamoDB Local for the table, the fake KMS behind
 * aws-sdk-client-mock for the key, and the LongPort simulator as the provider (real HTTP).
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openTenantClient, tenantSecretsContext } from '../lib/broker/client-secrets.js';
import { HTTP_FUNCTIONS, type HttpFunctionName } from '../lib/http/route-table.js';
import { getTenant } from '../lib/store/tenants.js';
import { keys } from '../lib/store/schema.js';
import type { Db } from '../lib/store/table.js';
import { startLongPortSimulator, type LongPortSimulator } from '../simulator/longport-simulator.js';
import { apiGatewayEvent, invoke, lambdaContext, type Answer, type EventInit, type LambdaHandler } from './support/apigw.js';
import { fakeKmsCipher, sealsOf, spendDataKey } from './support/data-keys.js';
import { FAKE_KEY_ARN, type FakeKms } from './support/fake-kms.js';
import { API_DOMAIN, loginAtProvider, PUBLIC_URL, useLambdaDeployment } from './support/lambda-deployment.js';

const RETURN_ORIGIN = 'https://app.example.com';
const TOKEN_TTL_S = 600;

const lambda = useLambdaDeployment();
const logLines = lambda.logLines;
let kms: FakeKms;
beforeAll(() => {
  kms = lambda.kms;
});

/** One deployment: a simulator issuing `clientType` clients and a fresh table; the functions start cold on them. */
const deploy = (clientType: 'public' | 'confidential') => lambda.deploy({ clientType, accessTokenTtlS: TOKEN_TTL_S });

/** The functions by name: every request goes through `functions/<name>.ts` (and what it sends to AWS is recorded). */
const fns = (): Record<HttpFunctionName, HttpFunctionName> => Object.fromEntries(HTTP_FUNCTIONS.map((n) => [n, n])) as Record<HttpFunctionName, HttpFunctionName>;
const send = (name: HttpFunctionName, init: EventInit): Promise<Answer> => lambda.send(name, init);

const registerTenant = (tenant: string): Promise<Answer> => lambda.registerTenant(tenant, [RETURN_ORIGIN]);
const linkThroughLambdas = (tenant: string, account: string) => lambda.linkAccount(tenant, account, `${RETURN_ORIGIN}/linked`);

async function getToken(tenant: string, account: string, query = ''): Promise<Answer> {
  return send(fns().token, { method: 'GET', url: `/v1/tenants/${tenant}/accounts/${account}/token${query}` });
}

async function callLongPort(sim: LongPortSimulator, accessToken: string): Promise<{ status: number; code: number }> {
  const res = await fetch(`${sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${accessToken}` } });
  return { status: res.status, code: ((await res.json()) as { code: number }).code };
}

async function accountItem(db: Db, tenant: string, account: string): Promise<Record<string, unknown> | undefined> {
  return (await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.account(tenant, account), ConsistentRead: true }))).Item;
}

describe.each(['public', 'confidential'] as const)('full flow through the Lambda handlers (%s client)', (clientType) => {
  let sim: LongPortSimulator;
  let db: Db;
  beforeAll(async () => {
    ({ sim, db } = await deploy(clientType));
  });
  afterAll(async () => sim?.close());

  it('register → link → authorize → provider login → callback → token → API call → expiry → token again (refreshed, and it works) → forced refresh', async () => {
    // register (PUT, IAM caller)
    const registered = await registerTenant('acme');
    expect(registered.status).toBe(201);
    expect(registered.json()).toMatchObject({ tenant: 'acme', client_type: clientType, redirect_uri: `${PUBLIC_URL}/oauth/callback` });
    expect(registered.body).not.toMatch(/client_secret|registration_access_token/);

    // link (POST, IAM caller) → authorize (public route, no authorizer)
    const link = await send(fns().authorize, { method: 'POST', url: '/v1/tenants/acme/accounts/alice/link', body: { return_to: `${RETURN_ORIGIN}/linked` } });
    expect(link.status).toBe(201);
    const { link_url } = link.json<{ link_url: string }>();
    expect(link_url.startsWith(`${PUBLIC_URL}/oauth/authorize?link=`)).toBe(true);
    const authorize = await send(fns().authorize, { method: 'GET', url: link_url, iam: null });
    expect(authorize.status).toBe(302);
    const providerUrl = new URL(authorize.location!);
    expect(providerUrl.origin).toBe(sim.url);
    expect(providerUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(providerUrl.searchParams.has('code_verifier')).toBe(false);
    expect(authorize.cookies).toHaveLength(1);
    expect(authorize.cookies[0]).toMatch(/; HttpOnly/);
    expect(authorize.cookies[0]).toMatch(/; SameSite=Lax/);
    expect(authorize.cookies[0]).toMatch(/; Secure/);
    // over https the flow cookie is a __Host- cookie: Secure, Path=/, no Domain (no sibling subdomain can plant one)
    expect(authorize.cookies[0]).toMatch(/^__Host-lpb_/);
    expect(authorize.cookies[0]).toMatch(/; Path=\/(;|$)/);
    expect(authorize.cookies[0]).not.toMatch(/; Domain=/i);

    // the provider (real HTTP) → callback event carrying the flow cookie
    const callbackUrl = await loginAtProvider(authorize.location!);
    expect(callbackUrl.startsWith(`${PUBLIC_URL}/oauth/callback?`)).toBe(true);
    const callback = await send(fns().callback, { method: 'GET', url: callbackUrl, cookies: authorize.cookiePairs() });
    expect(callback.status).toBe(303);
    expect(callback.location).toBe(`${RETURN_ORIGIN}/linked?status=linked&account=alice`);
    expect(callback.cookiePairs()).toEqual([]);

    // token → API call
    const first = await getToken('acme', 'alice');
    expect(first.status).toBe(200);
    expect(first.headers['cache-control']).toBe('no-store');
    const token1 = first.json<{ access_token: string; expires_in: number }>();
    expect(token1).toMatchObject({ token_type: 'Bearer', scope: '3' });
    expect(token1.expires_in).toBeGreaterThan(TOKEN_TTL_S - 60);
    expect(token1).not.toHaveProperty('refresh_token');
    expect(await callLongPort(sim, token1.access_token)).toEqual({ status: 200, code: 0 });

    // expiry: the clock of the provider and of the broker both move past the token's lifetime. The
    // broker reads its clock from the cold-start dependencies, so this is a new cold start, later.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + (TOKEN_TTL_S + 1) * 1000);
    await lambda.coldStart();
    expect(await callLongPort(sim, token1.access_token)).toEqual({ status: 401, code: 401003 });

    // token again: refreshed first, and it works
    const second = await getToken('acme', 'alice');
    expect(second.status).toBe(200);
    const token2 = second.json<{ access_token: string; expires_in: number }>();
    expect(token2.access_token).not.toBe(token1.access_token);
    expect(token2.expires_in).toBe(TOKEN_TTL_S);
    expect(await callLongPort(sim, token2.access_token)).toEqual({ status: 200, code: 0 });
    expect(sim.stats.refreshGrants).toBe(1);

    // forced refresh (POST, refresh Lambda), past the 10 s in which forced refreshes coalesce: a new token now, and it works
    vi.setSystemTime(Date.now() + 11_000);
    await lambda.coldStart();
    const forced = await send(fns().refresh, { method: 'POST', url: '/v1/tenants/acme/accounts/alice/refresh' });
    expect(forced.status).toBe(200);
    expect(forced.headers['cache-control']).toBe('no-store');
    const token3 = forced.json<{ access_token: string }>();
    expect(token3.access_token).not.toBe(token2.access_token);
    expect(token3).not.toHaveProperty('refresh_token');
    expect(await callLongPort(sim, token3.access_token)).toEqual({ status: 200, code: 0 });
    expect(sim.stats.refreshGrants).toBe(2);

    // client authentication: exactly what the registration answer said; a public client never sends a secret
    const expectedMethod = clientType === 'public' ? 'none' : 'client_secret_basic';
    expect(sim.stats.tokenRequests.map((r) => r.authMethod)).toEqual([expectedMethod, expectedMethod, expectedMethod]);
    expect(sim.stats.tokenRequests.every((r) => r.status === 200)).toBe(true);
    // and the Lambda's log lines hold none of the tokens it served
    for (const token of [token1.access_token, token2.access_token, token3.access_token]) expect(logLines.join('')).not.toContain(token);
  });

  it('the token route refreshes first when fewer than min_ttl seconds remain, and the new token works', async () => {
    expect((await registerTenant('minttl')).status).toBe(201);
    expect((await linkThroughLambdas('minttl', 'bob')).callback.status).toBe(303);
    const current = (await getToken('minttl', 'bob')).json<{ access_token: string; expires_in: number }>();
    const grantsBefore = sim.stats.refreshGrants;
    // later, 100 s of validity are left (a new cold start reads the moved clock)
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + (TOKEN_TTL_S - 100) * 1000);
    await lambda.coldStart();

    const answer = await getToken('minttl', 'bob', '?min_ttl=300');

    expect(answer.status).toBe(200);
    const fresh = answer.json<{ access_token: string; expires_in: number }>();
    expect(fresh.access_token).not.toBe(current.access_token);
    expect(fresh.expires_in).toBeGreaterThanOrEqual(300);
    expect(sim.stats.refreshGrants).toBe(grantsBefore + 1);
    expect(await callLongPort(sim, fresh.access_token)).toEqual({ status: 200, code: 0 });
    // with enough time left, the same token is served again without calling the provider
    const again = await getToken('minttl', 'bob', '?min_ttl=60');
    expect(again.json<{ access_token: string }>().access_token).toBe(fresh.access_token);
    expect(sim.stats.refreshGrants).toBe(grantsBefore + 1);
  });

  it('every KMS call names the configured key ARN and carries exactly {tenant, account, purpose}', async () => {
    kms.clearCalls();

    expect((await registerTenant('kmsctx')).status).toBe(201);
    expect((await linkThroughLambdas('kmsctx', 'carol')).callback.status).toBe(303);
    expect((await getToken('kmsctx', 'carol')).status).toBe(200);
    // past the 10 s in which forced refreshes coalesce
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 11_000);
    await lambda.coldStart();
    expect((await send(fns().refresh, { method: 'POST', url: '/v1/tenants/kmsctx/accounts/carol/refresh' })).status).toBe(200);

    const account = { tenant: 'kmsctx', account: 'carol', purpose: 'account-tokens' };
    const tenantSecrets = { tenant: 'kmsctx', account: '_tenant', purpose: 'tenant-client' };
    expect(kms.calls.length).toBeGreaterThan(0);
    for (const call of kms.calls) {
      expect(call.keyId).toBe(FAKE_KEY_ARN);
      expect(Object.keys(call.encryptionContext ?? {}).sort()).toEqual(['account', 'purpose', 'tenant']);
      expect([account, tenantSecrets]).toContainEqual(call.encryptionContext);
    }
    const seen = (command: string, context: object) => kms.calls.filter((c) => c.command === command && JSON.stringify(c.encryptionContext) === JSON.stringify(context)).length;
    expect(seen('GenerateDataKey', tenantSecrets)).toBe(clientType === 'public' ? 1 : 2); // registration token (+ client secret)
    // the linked pair; the refreshed pair is sealed under the data key of the pair it opened (lib/crypto/data-key-cache.ts)
    expect(seen('GenerateDataKey', account)).toBe(1);
    expect(seen('Decrypt', account)).toBeGreaterThanOrEqual(2); // token read, refresh
    // a public client has no secret, so tenant secrets are never opened to refresh it
    if (clientType === 'public') expect(seen('Decrypt', tenantSecrets)).toBe(0);
    else expect(seen('Decrypt', tenantSecrets)).toBeGreaterThanOrEqual(2); // code exchange, refresh
  });

  it('a KMS outage fails closed: the token route answers 503 JSON with no token, and the stored item is unchanged', async () => {
    expect((await registerTenant('kmsdown')).status).toBe(201);
    expect((await linkThroughLambdas('kmsdown', 'dave')).callback.status).toBe(303);
    const before = await accountItem(db, 'kmsdown', 'dave');
    kms.fail('KMSInternalException');

    const answer = await getToken('kmsdown', 'dave');

    expect(answer.status).toBe(503);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(answer.headers['retry-after']).toBeDefined();
    expect(answer.json()).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    expect(answer.body).not.toMatch(/at_[A-Za-z0-9_-]{20}/);
    expect(await accountItem(db, 'kmsdown', 'dave')).toEqual(before);
    // the key service back: the stored token is served, and it works
    kms.heal();
    const served = await getToken('kmsdown', 'dave');
    expect(served.status).toBe(200);
    expect(await callLongPort(sim, served.json<{ access_token: string }>().access_token)).toEqual({ status: 200, code: 0 });
  });

  it('a KMS outage during a forced refresh fails closed: 5xx, the provider is not called, the token pair is unchanged', async () => {
    expect((await registerTenant('kmsrefresh')).status).toBe(201);
    expect((await linkThroughLambdas('kmsrefresh', 'erin')).callback.status).toBe(303);
    const before = await accountItem(db, 'kmsrefresh', 'erin');
    const tokenRequestsBefore = sim.stats.tokenRequests.length;
    // past the 10 s in which forced refreshes coalesce: this one refreshes
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 11_000);
    await lambda.coldStart();
    kms.fail('ThrottlingException');

    const answer = await send(fns().refresh, { method: 'POST', url: '/v1/tenants/kmsrefresh/accounts/erin/refresh' });

    expect(answer.status).toBe(503);
    expect(answer.json()).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    expect(sim.stats.tokenRequests.length).toBe(tokenRequestsBefore);
    const after = await accountItem(db, 'kmsrefresh', 'erin');
    for (const field of ['sealedTokens', 'generation', 'status', 'expiresAt', 'refreshedAt']) expect(after?.[field]).toEqual(before?.[field]);
    // the lease was given back: with KMS healthy the refresh goes through at once
    kms.heal();
    expect((await send(fns().refresh, { method: 'POST', url: '/v1/tenants/kmsrefresh/accounts/erin/refresh' })).status).toBe(200);
  });
});

describe('Lambda handlers: requests API Gateway should never let through, and malformed events', () => {
  let sim: LongPortSimulator;
  let db: Db;
  beforeAll(async () => {
    ({ sim, db } = await deploy('public'));
  });
  afterAll(async () => sim?.close());

  it.each([
    ['register', 'PUT', '/v1/tenants/intruder', { region: 'global' }],
    ['authorize', 'POST', '/v1/tenants/intruder/accounts/x/link', {}],
    ['token', 'GET', '/v1/tenants/intruder/accounts/x/token', undefined],
    ['refresh', 'POST', '/v1/tenants/intruder/accounts/x/refresh', undefined],
  ] as const)('defence in depth: a /v1 event without authorizer.iam is refused 401 by the %s handler, and nothing is stored', async (name, method, url, body) => {
    const answer = await send(fns()[name], { method, url, body, iam: null });

    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(answer.json()).toEqual({ error: 'unauthorized', error_description: expect.any(String) });
    expect((await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.tenant('intruder') }))).Item).toBeUndefined();
    expect(sim.stats.registrations).toBe(0);
  });

  it('the callback event without the flow cookie is refused with a 400 page; the same callback with it links', async () => {
    expect((await registerTenant('cookies')).status).toBe(201);
    const link = await send(fns().authorize, { method: 'POST', url: '/v1/tenants/cookies/accounts/frank/link', body: {} });
    const authorize = await send(fns().authorize, { method: 'GET', url: link.json<{ link_url: string }>().link_url });
    const callbackUrl = await loginAtProvider(authorize.location!);

    const withoutCookie = await send(fns().callback, { method: 'GET', url: callbackUrl });
    const withCookie = await send(fns().callback, { method: 'GET', url: callbackUrl, cookies: authorize.cookiePairs() });

    expect(withoutCookie.status).toBe(400);
    expect(withoutCookie.headers['content-type']).toMatch(/^text\/html/);
    expect(withoutCookie.body).toContain('another browser');
    expect(withCookie.status).toBe(200);
    expect(withCookie.body).toContain('Account linked');
  });

  it('malformed JSON in an event body is 400 invalid_request, not a 5xx', async () => {
    const answer = await send(fns().register, { method: 'PUT', url: '/v1/tenants/broken', body: '{"region": "global"', headers: { 'content-type': 'application/json' } });

    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('a base64-encoded event body (as API Gateway sends binary bodies) is decoded and accepted', async () => {
    const body = Buffer.from(JSON.stringify({ region: 'global' })).toString('base64');

    const answer = await send(fns().register, { method: 'PUT', url: '/v1/tenants/b64', body, isBase64Encoded: true, headers: { 'content-type': 'application/json' } });

    expect(answer.status).toBe(201);
  });

  it('an event whose header holds a control character is answered 400, not 5xx', async () => {
    // hono's adapter reports the unreadable event on console.error: keep it out of the test output
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});

    const answer = await send(fns().token, { method: 'GET', url: '/v1/tenants/acme/accounts/alice/token', headers: { 'x-bad': 'a\r\nx-injected: 1' } });

    consoleError.mockRestore();
    expect(answer.status).toBe(400);
  });

  it('a route that this Lambda does not serve is a 404 JSON error', async () => {
    const answer = await send(fns().token, { method: 'DELETE', url: '/v1/tenants/acme' });

    expect(answer.status).toBe(404);
    expect(answer.json()).toMatchObject({ error: 'not_found' });
  });

  it('an event that is not an HTTP API request at all is answered 4xx, not 5xx', async () => {
    const answer = await invoke(await lambda.handler('token'), { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} }, lambdaContext());

    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
  });

  it('GET /healthz through the meta Lambda answers {"ok": true}', async () => {
    const answer = await send(fns().meta, { method: 'GET', url: '/healthz' });

    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({ ok: true });
  });

  it('GET /openapi.json through the meta Lambda is the OpenAPI 3.1 document of every contract route', async () => {
    const answer = await send(fns().meta, { method: 'GET', url: '/openapi.json' });

    expect(answer.status).toBe(200);
    const doc = answer.json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/tenants/{tenant}',
        '/v1/tenants/{tenant}/accounts/{account}/link',
        '/oauth/authorize',
        '/oauth/callback',
        '/v1/tenants/{tenant}/accounts/{account}/token',
        '/v1/tenants/{tenant}/accounts/{account}/refresh',
        '/healthz',
      ]),
    );
    expect(doc.paths['/v1/tenants/{tenant}']).toHaveProperty('put');
    expect(doc.paths['/v1/tenants/{tenant}/accounts/{account}/refresh']).toHaveProperty('post');
  });
});

describe('code paths through the function that runs them', () => {
  it('a region move through the register function moves linked accounts to needs_reauth and publishes ReauthRequired', async () => {
    const { sim } = await deploy('public');
    const cn = await startLongPortSimulator({ clock: () => Date.now() });
    try {
      vi.stubEnv('LONGPORT_ISSUER_CN', cn.issuer);
      await lambda.coldStart();
      expect((await registerTenant('mover')).status).toBe(201);
      expect((await linkThroughLambdas('mover', 'gina')).callback.status).toBe(303);

      const moved = await send('register', { method: 'PUT', url: '/v1/tenants/mover', body: { region: 'cn', change_region: true } });

      expect(moved.status).toBe(200);
      expect(moved.json()).toMatchObject({ region: 'cn', issuer: cn.issuer });
      expect((await send('accounts', { method: 'GET', url: '/v1/tenants/mover/accounts/gina' })).json()).toMatchObject({ status: 'needs_reauth' });
      expect(lambda.events.filter((e) => e.DetailType === 'ReauthRequired').map((e) => JSON.parse(e.Detail!))).toContainEqual(expect.objectContaining({ tenant: 'mover', account: 'gina' }));
    } finally {
      await Promise.all([sim.close(), cn.close()]);
    }
  });

  it('a refresh token the provider refused, met by the token function, is 409 reauth_required and publishes ReauthRequired', async () => {
    const { sim } = await deploy('public');
    try {
      expect((await registerTenant('refused')).status).toBe(201);
      expect((await linkThroughLambdas('refused', 'hank')).callback.status).toBe(303);
      sim.revokeAll();
      // later: the token needs a refresh, and the provider refuses its refresh token
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + (TOKEN_TTL_S + 1) * 1000);
      await lambda.coldStart();

      const answer = await getToken('refused', 'hank');

      expect(answer.status).toBe(409);
      expect(answer.json()).toMatchObject({ error: 'reauth_required' });
      expect(lambda.events.filter((e) => e.DetailType === 'ReauthRequired').map((e) => JSON.parse(e.Detail!))).toContainEqual(expect.objectContaining({ tenant: 'refused', account: 'hank' }));
    } finally {
      await sim.close();
    }
  });

  it('confirm_links through the functions: the callback ends at status=confirm, the authorize function confirms and publishes AccountLinked, and a confirmed re-link revokes the replaced refresh token', async () => {
    const { sim } = await deploy('confidential');
    try {
      const registered = await send('register', { method: 'PUT', url: '/v1/tenants/confirming', body: { region: 'global', return_to_origins: [RETURN_ORIGIN], confirm_links: true } });
      expect(registered.json()).toMatchObject({ confirm_links: true });
      const linkAndConfirm = async () => {
        const { callback } = await linkThroughLambdas('confirming', 'june');
        const back = new URL(callback.location!);
        expect(back.searchParams.get('status')).toBe('confirm');
        return send('authorize', { method: 'POST', url: '/v1/tenants/confirming/accounts/june/link/confirm', body: { link_session: back.searchParams.get('link_session') } });
      };
      expect((await linkAndConfirm()).status).toBe(200);
      const revocationsBefore = sim.stats.revocations.length;

      const relinked = await linkAndConfirm();

      expect(relinked.status).toBe(200);
      expect(relinked.json()).toMatchObject({ account: 'june', status: 'linked' });
      expect(sim.stats.revocations.length).toBe(revocationsBefore + 1);
      const linked = lambda.events.filter((e) => e.DetailType === 'AccountLinked').map((e) => JSON.parse(e.Detail!) as Record<string, unknown>);
      expect(linked.filter((d) => d.tenant === 'confirming')).toEqual([
        { tenant: 'confirming', account: 'june', relinked: false },
        { tenant: 'confirming', account: 'june', relinked: true },
      ]);
      expect((await getToken('confirming', 'june')).status).toBe(200);
    } finally {
      await sim.close();
    }
  });

  it('a client secret that expired is renewed through RFC 7592 before a link is made, the authorize function sealing the secret the provider rotated (no new client)', async () => {
    const { sim, db } = await lambda.deploy({ clientType: 'confidential', clientSecretTtlS: 60 });
    try {
      const registered = await registerTenant('expiring');
      expect(registered.status).toBe(201);
      // the provider rotated the secret; the broker learns of it once the stored expiry has passed
      sim.rotateClientSecret(registered.json<{ client_id: string }>().client_id, { expiresInS: 3600, graceS: 60 });
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 120_000);
      await lambda.coldStart();
      lambda.kms.clearCalls();

      const link = await send('authorize', { method: 'POST', url: '/v1/tenants/expiring/accounts/ivan/link', body: {} });

      expect(link.status).toBe(201);
      expect(sim.stats.registrations).toBe(1);
      const clientId = registered.json<{ client_id: string }>().client_id;
      expect(sim.stats.clientsRead).toEqual([clientId]);
      // what the table holds now opens (through the same KMS key) to the secret the provider rotated
      const stored = await openTenantClient({ cipher: fakeKmsCipher() }, (await getTenant(db, 'expiring'))!);
      expect(stored.client_secret).toBe(sim.clients.get(clientId)!.client_secret);
    } finally {
      await sim.close();
    }
  });

  it('a renewed client secret whose data key has sealed 24 values is sealed under a new data key, which the authorize function asks KMS for', async () => {
    const { sim, db } = await lambda.deploy({ clientType: 'confidential', clientSecretTtlS: 60 });
    try {
      const registered = await registerTenant('spent');
      expect(registered.status).toBe(201);
      await spendDataKey(db, keys.tenant('spent'), 'sealedClient', tenantSecretsContext('spent'));
      sim.rotateClientSecret(registered.json<{ client_id: string }>().client_id, { expiresInS: 3600, graceS: 60 });
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 120_000);
      await lambda.coldStart();
      lambda.kms.clearCalls();

      const link = await send('authorize', { method: 'POST', url: '/v1/tenants/spent/accounts/ivan/link', body: {} });

      expect(link.status).toBe(201);
      expect(lambda.kms.calls.map((c) => c.command)).toContain('GenerateDataKey');
      expect(sealsOf((await getTenant(db, 'spent'))!.sealedClient!)).toBe(1);
    } finally {
      await sim.close();
    }
  });
});
