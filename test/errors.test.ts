import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { AccessDeniedException, EventBridgeServiceException, InternalException } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import * as oauth from 'oauth4webapi';
import { afterEach, describe, expect, it } from 'vitest';
import { kmsDataKeys } from '../lib/crypto/kms-keys.js';
import { createTokenCipher } from '../lib/crypto/token-cipher.js';
import { BrokerError, DEFAULT_RETRY_AFTER_S, toBrokerError } from '../lib/errors.js';
import { refreshGrant } from '../lib/oauth/client.js';
import { discover } from '../lib/oauth/discovery.js';
import { rejectTransientStatus } from '../lib/oauth/upstream.js';
import { getAccount } from '../lib/store/accounts.js';
import { getTenant } from '../lib/store/tenants.js';
import { createDb } from '../lib/store/table.js';
import { startLongPortSimulator, type LongPortSimulator } from '../simulator/longport-simulator.js';
import { installFakeKms } from './support/fake-kms.js';
import { api, linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';
import { serveFetch, type RunningServer } from './support/http-server.js';

const http = { fetch: globalThis.fetch, timeoutMs: 2_000 };
const ALICE = { tenant: 'acme', account: 'alice', purpose: 'account-tokens' as const };

let cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function simulator(): Promise<LongPortSimulator> {
  const sim = await startLongPortSimulator();
  cleanups.push(() => sim.close());
  return sim;
}

async function server(handler: (req: Request) => Response): Promise<RunningServer> {
  const s = await serveFetch(handler);
  cleanups.push(() => s.close());
  return s;
}

/** A store nobody answers on: a loopback port that was free a moment ago. */
async function unreachableDb() {
  const s = await serveFetch(() => new Response(null));
  const endpoint = s.url;
  await s.close();
  return createDb({ table: 'unreachable', endpoint });
}

async function thrown(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

/** A refresh grant by a confidential client against `as`, answering what it threw, normalised. */
async function refreshFailure(as: oauth.AuthorizationServer, clientSecret: string): Promise<BrokerError> {
  const client = { client_id: 'acme-client', token_endpoint_auth_method: 'client_secret_basic' as const, client_secret: clientSecret };
  return toBrokerError(await thrown(() => refreshGrant(http, as, client, 'rt_some-refresh-token', Date.now)), 'refresh');
}

const localAs = (url: string): oauth.AuthorizationServer => ({ issuer: url, token_endpoint: `${url}/token`, authorization_endpoint: `${url}/authorize` });
const json = (status: number, body: unknown, headers: Record<string, string> = {}) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

describe('the one error normaliser', () => {
  it('every 503 carries a Retry-After of 1 to 60 s', async () => {
    const timeout = Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' });
    const throttled = new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
    const providerBusy = (() => {
      try {
        rejectTransientStatus(new Response('busy', { status: 503, headers: { 'retry-after': '3600' } }), 'refresh');
      } catch (err) {
        return err;
      }
    })();
    const unreachable = await thrown(async () => getTenant(await unreachableDb(), 'acme'));

    const answers = [
      new BrokerError('temporarily_unavailable', 503, 'asked for an hour', { retryAfterS: 3600 }),
      new BrokerError('temporarily_unavailable', 503, 'asked for nothing'),
      new BrokerError('upstream_unavailable', 503, 'asked for 0 s', { retryAfterS: 0 }),
      toBrokerError(timeout, 'refresh'),
      toBrokerError(throttled),
      toBrokerError(providerBusy, 'refresh'),
      toBrokerError(unreachable),
    ];

    for (const answer of answers) {
      expect(answer.status).toBe(503);
      expect(answer.retryAfterS).toBeGreaterThanOrEqual(1);
      expect(answer.retryAfterS).toBeLessThanOrEqual(60);
    }
    expect(answers.map((a) => a.retryAfterS)).toEqual([60, DEFAULT_RETRY_AFTER_S, 1, DEFAULT_RETRY_AFTER_S, 1, 60, 1]);
    // what the provider asked is kept, uncapped, for the broker's own pacing
    expect(toBrokerError(providerBusy).requestedRetryAfterS).toBe(3600);
    // only a 503 says when to come back
    expect(new BrokerError('upstream_error', 502, 'garbage', { retryAfterS: 5 }).retryAfterS).toBeUndefined();
  });

  it('a wrong client secret (401 invalid_client, with or without a WWW-Authenticate challenge) is invalid_client, never upstream_error', async () => {
    const sim = await simulator();
    sim.addClient({ client_id: 'acme-client', client_secret: 'the-right-secret', redirect_uris: ['http://localhost/oauth/callback'], token_endpoint_auth_method: 'client_secret_basic' });
    const withoutChallenge = await server(() => json(401, { error: 'invalid_client', error_description: 'client authentication failed' }));
    const as400 = await server(() => json(400, { error: 'invalid_client' }));

    const challenged = await refreshFailure(await discover(http, sim.issuer), 'a-wrong-secret');
    const unchallenged = await refreshFailure(localAs(withoutChallenge.url), 'a-wrong-secret');
    const inBody400 = await refreshFailure(localAs(as400.url), 'a-wrong-secret');

    // the simulator answers as RFC 6749 §5.2 asks: 401 with WWW-Authenticate: Basic
    expect(sim.stats.tokenRequests.at(-1)).toMatchObject({ status: 401 });
    for (const failure of [challenged, unchallenged, inBody400]) {
      expect(failure).toMatchObject({ code: 'invalid_client', status: 502 });
      // the operator's next step, and nothing secret
      expect(failure.description).toContain('PUT /v1/tenants/{tenant}');
      expect(failure.description).not.toContain('a-wrong-secret');
    }
  });

  it('an unreachable or throttled store, key service or event bus is 503 temporarily_unavailable, not 500', async () => {
    const kms = installFakeKms();
    cleanups.push(() => kms.restore());
    const cipher = createTokenCipher(kmsDataKeys(new KMSClient({ region: 'us-east-1' }), kms.keyArn));
    const sealed = await cipher.seal({ access_token: 'at' }, ALICE);
    kms.fail('ThrottlingException');

    const failures = [
      toBrokerError(await thrown(async () => getTenant(await unreachableDb(), 'acme'))),
      toBrokerError(new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } })),
      await thrown(() => cipher.open(sealed, ALICE)),
      toBrokerError(new InternalException({ message: 'EventBridge failed', $metadata: { httpStatusCode: 500 } })),
      toBrokerError(new EventBridgeServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } })),
    ];

    for (const failure of failures) expect(failure).toMatchObject({ code: 'temporarily_unavailable', status: 503 });
    // a fault of the deployment (no permission) will not pass by waiting: that stays a 500
    expect(toBrokerError(new AccessDeniedException({ message: 'not authorized', $metadata: { httpStatusCode: 400 } }))).toMatchObject({ code: 'server_error', status: 500 });
  });

  it('checks in a fixed order: challenge, error body, processing error, time-out or network (AWS SDK apart), AWS SDK errors, then server_error', async () => {
    const cutOff = new oauth.OperationProcessingError('failed to parse "response" body as JSON', { cause: new TypeError('terminated') });
    const broken = new oauth.OperationProcessingError('"response" body "access_token" property must be a string', { cause: { body: { access_token: 42 } } });
    const awsRefused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', $metadata: { attempts: 3 } });
    const providerRefused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
    const bug = new RangeError('secret-in-a-message 0123456789');

    expect(toBrokerError(cutOff, 'refresh')).toMatchObject({ code: 'upstream_unavailable', status: 503 });
    expect(toBrokerError(broken, 'refresh')).toMatchObject({ code: 'upstream_error', status: 502 });
    expect(toBrokerError(awsRefused)).toMatchObject({ code: 'temporarily_unavailable', status: 503 });
    expect(toBrokerError(providerRefused, 'refresh')).toMatchObject({ code: 'upstream_unavailable', status: 503, description: 'refresh: the provider could not be reached' });
    expect(toBrokerError(bug, 'refresh')).toMatchObject({ code: 'server_error', status: 500, description: 'refresh: internal error' });
    const same = new BrokerError('reauth_required', 409, 'link again');
    expect(toBrokerError(same, 'refresh')).toBe(same);
  });

  it('an RFC 6749 error body keeps its code: invalid_grant as such, any other named in the description', async () => {
    const grant = await server(() => json(400, { error: 'invalid_grant' }));
    const scope = await server(() => json(400, { error: 'invalid_scope' }));

    expect(await refreshFailure(localAs(grant.url), 's')).toMatchObject({ code: 'invalid_grant', status: 409 });
    expect(await refreshFailure(localAs(scope.url), 's')).toMatchObject({ code: 'upstream_error', status: 502, description: 'refresh: the provider answered invalid_scope' });
  });
});

describe('errors at the HTTP edge', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('with the store unreachable, an API call answers 503 temporarily_unavailable with Retry-After, and a link opens a 503 page', async () => {
    h = await startHarness({ db: await unreachableDb() });

    const res = await api(h, 'GET', '/v1/tenants/acme');
    const page = await h.app.request(`http://localhost:8787/oauth/authorize?link=${'A'.repeat(43)}`);

    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable' });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(page.status).toBe(503);
    expect(Number(page.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it("a provider's Retry-After of an hour reaches the caller as 60 s", async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.sim.setFaults({ tokenStatus: 503, retryAfterS: 3600 });
    h.clock.set((await getAccount(h.db, 'acme', 'alice'))!.expiresAt + 1000);

    const res = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('60');
  });
});
