import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FORCED_REFRESH_FLOOR_MS } from '../lib/broker/refresh.js';
import { BrokerClientError, createBrokerClient, type BrokerClientOptions } from '../client/index.js';
import { createLogger } from '../lib/log.js';
import { startLocalBroker, type LocalBroker } from '../local/local-broker.js';
import { keys } from '../lib/store/schema.js';
import { startLongPortSimulator, type LongPortSimulator } from '../simulator/longport-simulator.js';
import { ScriptedBrowser } from '../simulator/scripted-browser.js';
import { dynamoEndpoint } from './support/dynamo.js';
import { expectedSignature } from './support/sigv4.js';

interface Sent {
  method: string;
  url: URL;
  headers: Record<string, string>;
  status: number;
  retryAfter: string | null;
}

/** Wraps a fetch and records every request the client sends and the status it got. */
function recordingFetch(inner: typeof fetch = globalThis.fetch, onAnswer: (res: Response) => void = () => {}) {
  const sent: Sent[] = [];
  const wrapped: typeof fetch = async (input, init) => {
    const res = await inner(input, init);
    sent.push({ method: init?.method ?? 'GET', url: new URL(String(input)), headers: { ...(init?.headers as Record<string, string>) }, status: res.status, retryAfter: res.headers.get('retry-after') });
    onAnswer(res);
    return res;
  };
  return { fetch: wrapped, sent };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const tokenBody = (accessToken: string, expiresIn = 3600) => ({ access_token: accessToken, token_type: 'Bearer', expires_at: new Date(Date.now() + expiresIn * 1000).toISOString(), expires_in: expiresIn, scope: '3' });

describe('createBrokerClient against a local broker (bearer key)', () => {
  let sim: LongPortSimulator;
  let server: LocalBroker;
  let dataDir: string;
  const tenant = 'acme';

  beforeAll(async () => {
    sim = await startLongPortSimulator();
    dataDir = await mkdtemp(join(tmpdir(), 'lpb-client-'));
    server = await startLocalBroker({
      env: {
        PORT: '0',
        BROKER_DATA_DIR: dataDir,
        LONGPORT_ISSUER: sim.issuer,
        DYNAMODB_ENDPOINT: dynamoEndpoint(),
        BROKER_TABLE_NAME: `client-${randomBytes(4).toString('hex')}`,
      },
      refresher: false,
      log: createLogger({ sink: () => {} }),
    });
    const registered = await fetch(`${server.url}/v1/tenants/${tenant}`, { method: 'PUT', headers: adminHeaders(), body: JSON.stringify({ region: 'global' }) });
    expect(registered.status).toBe(201);
  });

  afterAll(async () => {
    await server?.stop();
    await sim?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  afterEach(() => {
    sim.resetFaults();
    vi.useRealTimers();
  });

  /** The broker's and the provider's clock (both Date) past the 10 s in which forced refreshes coalesce. */
  function pastTheForcedRefreshFloor(): void {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + FORCED_REFRESH_FLOOR_MS);
  }

  function adminHeaders() {
    return { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' };
  }

  /** A link URL followed through the simulator's login by a scripted browser over real HTTP. */
  async function linkAccount(account: string): Promise<void> {
    const link = await fetch(`${server.url}/v1/tenants/${tenant}/accounts/${account}/link`, { method: 'POST', headers: adminHeaders(), body: '{}' });
    expect(link.status).toBe(201);
    const { link_url } = (await link.json()) as { link_url: string };
    const browser = new ScriptedBrowser(() => (url, init) => fetch(url, { ...init, redirect: 'manual' }));
    const { callback } = await browser.completeLink(link_url);
    expect(callback.status).toBe(200);
  }

  function client(options: Partial<BrokerClientOptions> = {}) {
    return createBrokerClient({ baseUrl: server.url, auth: { type: 'bearer', token: server.adminToken }, ...options });
  }

  const callApi = (accessToken: string) => fetch(`${sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${accessToken}` } });

  it('a token is served from the client cache until expiresAt − minTtl, and fetched again after', async () => {
    await linkAccount('cache-1');
    let now = Date.now();
    const { fetch, sent } = recordingFetch();
    const broker = client({ fetch, clock: () => now });

    const first = await broker.getToken(tenant, 'cache-1');
    const again = await broker.getToken(tenant, 'cache-1');
    now = first.expiresAt.getTime() - 60_000; // exactly minTtl left: still good enough
    const atEdge = await broker.getToken(tenant, 'cache-1');
    expect(sent).toHaveLength(1);

    now += 1; // less than minTtl left
    await broker.getToken(tenant, 'cache-1');

    expect(sent).toHaveLength(2);
    expect(sent.map((s) => `${s.method} ${s.url.pathname}${s.url.search}`)).toEqual([
      'GET /v1/tenants/acme/accounts/cache-1/token?min_ttl=60',
      'GET /v1/tenants/acme/accounts/cache-1/token?min_ttl=60',
    ]);
    expect(again).toEqual(first);
    expect(atEdge).toEqual(first);
    expect(first.scope).toBe('3');
    expect((await callApi(first.accessToken)).status).toBe(200);
  });

  it("a cached token with less than the caller's minTtl left is not used", async () => {
    await linkAccount('cache-2');
    let now = Date.now();
    const { fetch, sent } = recordingFetch();
    const broker = client({ fetch, clock: () => now });
    const first = await broker.getToken(tenant, 'cache-2', { minTtl: 60 });

    now = first.expiresAt.getTime() - 300_000; // 300 s left
    await broker.getToken(tenant, 'cache-2', { minTtl: 300 });
    expect(sent).toHaveLength(1);
    await broker.getToken(tenant, 'cache-2', { minTtl: 301 });

    expect(sent).toHaveLength(2);
    expect(sent[1]!.url.searchParams.get('min_ttl')).toBe('301');
  });

  it('concurrent callers for one account share one request; another account gets its own', async () => {
    await linkAccount('shared-1');
    await linkAccount('shared-2');
    const { fetch, sent } = recordingFetch();
    const broker = client({ fetch });

    const tokens = await Promise.all([
      ...Array.from({ length: 8 }, () => broker.getToken(tenant, 'shared-1')),
      ...Array.from({ length: 8 }, () => broker.getToken(tenant, 'shared-2')),
    ]);

    expect(sent).toHaveLength(2);
    expect(new Set(tokens.slice(0, 8).map((t) => t.accessToken)).size).toBe(1);
    expect(new Set(tokens.slice(8).map((t) => t.accessToken)).size).toBe(1);
    expect(tokens[0]!.accessToken).not.toBe(tokens[8]!.accessToken);
  });

  it('a 503 with Retry-After from the broker is retried after the wait, and the token is answered', async () => {
    await linkAccount('retry-1');
    // the stored token has expired, and LongPort answers 503 until the broker has passed one on
    await server.deps.db.doc.send(
      new UpdateCommand({ TableName: server.deps.db.table, Key: keys.account(tenant, 'retry-1'), UpdateExpression: 'SET expiresAt = :past', ExpressionAttributeValues: { ':past': Date.now() - 1000 } }),
    );
    sim.setFaults({ tokenStatus: 503, retryAfterS: 1 });
    const { fetch, sent } = recordingFetch(globalThis.fetch, (res) => {
      if (res.status === 503) sim.resetFaults();
    });
    const grantsBefore = sim.stats.refreshGrants;

    const token = await client({ fetch }).getToken(tenant, 'retry-1');

    expect(sent.map((s) => s.status)).toEqual([503, 200]);
    expect(sent[0]!.retryAfter).toBe('1');
    expect(sim.stats.refreshGrants).toBe(grantsBefore + 1);
    expect((await callApi(token.accessToken)).status).toBe(200);
  });

  it('refresh() forces a new token and replaces the cached one; invalidate() forgets it', async () => {
    await linkAccount('refresh-1');
    const { fetch, sent } = recordingFetch();
    const broker = client({ fetch });
    const before = await broker.getToken(tenant, 'refresh-1');
    pastTheForcedRefreshFloor();

    const refreshed = await broker.refresh(tenant, 'refresh-1');
    const cached = await broker.getToken(tenant, 'refresh-1');
    expect(sent.map((s) => `${s.method} ${s.url.pathname}`)).toEqual(['GET /v1/tenants/acme/accounts/refresh-1/token', 'POST /v1/tenants/acme/accounts/refresh-1/refresh']);
    broker.invalidate(tenant, 'refresh-1');
    const afterInvalidate = await broker.getToken(tenant, 'refresh-1');

    expect(refreshed.accessToken).not.toBe(before.accessToken);
    expect(cached).toEqual(refreshed);
    expect(sent).toHaveLength(3);
    expect(afterInvalidate.accessToken).toBe(refreshed.accessToken);
  });

  it('a wrong bearer key surfaces as a 401 BrokerClientError that does not repeat the key', async () => {
    await linkAccount('auth-1');
    const wrongKey = 'not-a-key-' + randomBytes(16).toString('hex');
    const broker = createBrokerClient({ baseUrl: server.url, auth: { type: 'bearer', token: wrongKey } });

    const failure = await broker.getToken(tenant, 'auth-1').catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(BrokerClientError);
    expect(failure).toMatchObject({ status: 401, error: 'unauthorized' });
    expect(JSON.stringify({ ...(failure as object), message: (failure as Error).message })).not.toContain(wrongKey);
  });

  it("409 reauth_required surfaces as BrokerClientError with error 'reauth_required', and the cached token is dropped", async () => {
    await linkAccount('reauth-1');
    const { fetch, sent } = recordingFetch();
    const broker = client({ fetch });
    const cached = await broker.getToken(tenant, 'reauth-1');
    sim.revokeAll(); // the end user revoked access at LongPort: the refresh token is dead
    pastTheForcedRefreshFloor();

    const failure = await broker.refresh(tenant, 'reauth-1').catch((err: unknown) => err);
    const next = await broker.getToken(tenant, 'reauth-1').catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(BrokerClientError);
    expect(failure).toMatchObject({ status: 409, error: 'reauth_required' });
    expect((failure as BrokerClientError).description).toContain('link');
    expect((failure as Error).message).not.toContain(cached.accessToken);
    expect(next).toMatchObject({ status: 409, error: 'reauth_required' });
    expect(sent).toHaveLength(3);
  });
});

describe('createBrokerClient retries and errors (fake fetch)', () => {
  const baseUrl = 'http://broker.test';
  const auth = { type: 'bearer', token: 'key' } as const;

  it('503 is retried at most maxAttempts times, then surfaces with its code and Retry-After', async () => {
    const { fetch, sent } = recordingFetch(async () => json(503, { error: 'upstream_unavailable', error_description: 'LongPort is unavailable' }, { 'retry-after': '0' }));

    const failure = await createBrokerClient({ baseUrl, auth, fetch }).getToken('acme', 'alice').catch((err: unknown) => err);

    expect(sent).toHaveLength(3);
    expect(failure).toBeInstanceOf(BrokerClientError);
    expect(failure).toMatchObject({ status: 503, error: 'upstream_unavailable', description: 'LongPort is unavailable', retryAfterS: 0 });
  });

  it('a Retry-After longer than the maximum wait is not waited for', async () => {
    const { fetch, sent } = recordingFetch(async () => json(503, { error: 'temporarily_unavailable', error_description: 'busy' }, { 'retry-after': '120' }));

    const failure = await createBrokerClient({ baseUrl, auth, fetch, retry: { maxDelayMs: 5_000 } }).getToken('acme', 'alice').catch((err: unknown) => err);

    expect(sent).toHaveLength(1);
    expect(failure).toMatchObject({ status: 503, retryAfterS: 120 });
  });

  it('429 without Retry-After is retried after a jittered backoff', async () => {
    const answers = [json(429, { error: 'too_many_requests', error_description: 'slow down' }), json(200, tokenBody('at-1'))];
    const { fetch, sent } = recordingFetch(async () => answers.shift()!);

    const token = await createBrokerClient({ baseUrl, auth, fetch }).getToken('acme', 'alice');

    expect(sent.map((s) => s.status)).toEqual([429, 200]);
    expect(token.accessToken).toBe('at-1');
  });

  it('other errors are not retried and keep their code and description', async () => {
    const { fetch, sent } = recordingFetch(async () => json(404, { error: 'not_found', error_description: 'account alice of tenant acme is not linked' }));

    const failure = await createBrokerClient({ baseUrl, auth, fetch }).getToken('acme', 'alice').catch((err: unknown) => err);

    expect(sent).toHaveLength(1);
    expect(failure).toMatchObject({ status: 404, error: 'not_found', description: 'account alice of tenant acme is not linked' });
  });

  it("an API Gateway error keeps only the first line of its message (the rest would quote the signed request's session token)", async () => {
    const sessionToken = 'IQoJb3JpZ2luX2VjEXAMPLESESSION';
    const message = `The request signature we calculated does not match the signature you provided.\n\nThe Canonical String for this request should have been\n'GET\n/prod/v1/tenants/acme/accounts/alice/token\nx-amz-security-token:${sessionToken}'`;
    const { fetch } = recordingFetch(async () => json(403, { message }));

    const failure = await createBrokerClient({ baseUrl, auth, fetch }).getToken('acme', 'alice').catch((err: unknown) => err);

    expect(failure).toMatchObject({ status: 403, error: 'forbidden', description: 'The request signature we calculated does not match the signature you provided.' });
    expect((failure as Error).message).not.toContain(sessionToken);
  });

  it('identifiers outside the contract are refused before any request (no path walking with "..")', async () => {
    const { fetch, sent } = recordingFetch(async () => json(200, tokenBody('at-1')));

    const failure = await createBrokerClient({ baseUrl, auth, fetch }).getToken('acme', '..').catch((err: unknown) => err);

    expect(failure).toMatchObject({ status: 400, error: 'invalid_request' });
    expect(sent).toHaveLength(0);
  });

  it('two clients share no cache (no hidden global state)', async () => {
    const { fetch, sent } = recordingFetch(async () => json(200, tokenBody(`at-${randomBytes(4).toString('hex')}`)));
    const one = createBrokerClient({ baseUrl, auth, fetch });
    const two = createBrokerClient({ baseUrl, auth, fetch });

    await one.getToken('acme', 'alice');
    await two.getToken('acme', 'alice');

    expect(sent).toHaveLength(2);
  });
});

describe('createBrokerClient in SigV4 mode (no network)', () => {
  const baseUrl = 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod';
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token-example' };
  const at = Date.UTC(2026, 0, 2, 3, 4, 5);

  afterEach(() => vi.unstubAllEnvs());

  it('signs every request for execute-api with the SDK signer, verifiable by the documented algorithm', async () => {
    const { fetch, sent } = recordingFetch(async () => json(200, tokenBody('at-1')));
    const broker = createBrokerClient({ baseUrl, auth: { type: 'sigv4', region: 'eu-west-1', credentials }, fetch, clock: () => at });

    await broker.getToken('acme', 'alice', { minTtl: 120 });
    await broker.refresh('acme', 'alice');

    expect(sent).toHaveLength(2);
    for (const request of sent) {
      const authorization = request.headers.authorization!;
      expect(authorization.startsWith('AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/eu-west-1/execute-api/aws4_request, SignedHeaders=')).toBe(true);
      expect(request.headers['x-amz-date']).toBe('20260102T030405Z');
      expect(request.headers['x-amz-security-token']).toBe('session-token-example');
      const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)![1]!.split(';');
      expect(signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token']));
      expect(/Signature=([0-9a-f]{64})$/.exec(authorization)![1]).toBe(expectedSignature(request, signedHeaders, credentials.secretAccessKey, 'eu-west-1'));
    }
    expect(sent[0]!.url.pathname).toBe('/prod/v1/tenants/acme/accounts/alice/token');
    expect(sent[0]!.url.searchParams.get('min_ttl')).toBe('120');
  });

  it('without credentials, SigV4 mode takes them from the default credential chain', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDFROMENV');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret-from-env');
    vi.stubEnv('AWS_SESSION_TOKEN', '');
    const { fetch, sent } = recordingFetch(async () => json(200, tokenBody('at-1')));

    await createBrokerClient({ baseUrl, auth: { type: 'sigv4', region: 'eu-west-1' }, fetch, clock: () => at }).getToken('acme', 'alice');

    expect(sent[0]!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDFROMENV\/20260102\/eu-west-1\/execute-api\/aws4_request, /);
  });
});
