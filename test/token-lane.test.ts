import { afterEach, describe, expect, it } from 'vitest';
import { keyFingerprint } from '../lib/broker/callers.js';
import { TokenCache } from '../lib/broker/token-cache.js';
import type { BrokerConfig } from '../lib/config.js';
import { cachedTokenLane } from '../lib/http/token-lane.js';
import { callerDigest, hintOf } from '../lib/store/exposures.js';
import { ADMIN_TOKEN, startHarness, type Harness } from './support/harness.js';
import { linkAccount } from './support/flow.js';
import { serveFetch, type RunningServer } from './support/http-server.js';

const SERVICE_KEY = 'service-key-of-acme-0123456789abcdef';
const OTHER_KEY = 'service-key-of-acme-number-two-0123';
const STRANGER_KEY = 'service-key-of-other-0123456789abcd';
const API_KEYS = JSON.stringify({
  [SERVICE_KEY]: { tenants: ['acme'], role: 'service' },
  [OTHER_KEY]: { tenants: ['acme'], role: 'service' },
  [STRANGER_KEY]: { tenants: ['other'], role: 'service' },
});
const TOKEN_PATH = '/v1/tenants/acme/accounts/alice/token';
const service = { authorization: `Bearer ${SERVICE_KEY}` };

let h: Harness;
const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await h?.close();
});

/**
 * The harness's app served twice on the same broker (one cache, one set of counts): `plain` as the
 * app alone, `laned` with the token lane in front. `appCalls` counts the requests the app answered.
 */
async function servedTwice(lane = (deps: Harness['deps']) => cachedTokenLane(deps)) {
  const calls = { app: 0 };
  const fetchOfApp = (req: Request) => {
    calls.app += 1;
    return h.app.fetch(req);
  };
  const plain = await serveFetch(fetchOfApp);
  const laned = await serveFetch(fetchOfApp, { lane: lane(h.deps) });
  servers.push(plain, laned);
  return { plain, laned, calls };
}

const accessLines = () => h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'http.access');

/** Everything of an answer a client sees but its Date: status, every header, body. */
async function seen(res: Response) {
  const headers = [...res.headers].filter(([name]) => name !== 'date');
  return { status: res.status, headers, body: await res.text() };
}

describe('the token lane of the local server', () => {
  it('a cached read its caller already received is answered before the app, with the status, headers, body and access line the app answers it with', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await linkAccount(h, 'acme', 'alice');
    const { plain, laned, calls } = await servedTwice();
    // the service's first read (its token.read), then a read the app serves from memory
    expect((await fetch(plain.url + TOKEN_PATH, { headers: service })).status).toBe(200);
    const countsBefore = h.deps.readCounts.pending;
    h.logs.length = 0;
    const byApp = await seen(await fetch(plain.url + TOKEN_PATH, { headers: service }));
    const appLine = accessLines().at(-1)!;
    const appCalls = calls.app;

    const byLane = await seen(await fetch(laned.url + TOKEN_PATH, { headers: service }));
    const laneLine = accessLines().at(-1)!;

    expect(calls.app).toBe(appCalls);
    expect(byLane).toEqual(byApp);
    expect(byApp.status).toBe(200);
    expect(accessLines()).toHaveLength(2);
    expect({ ...laneLine, time: 0, durationMs: 0 }).toEqual({ ...appLine, time: 0, durationMs: 0 });
    expect(laneLine).toMatchObject({ cache: 'hit', caller: `key:${keyFingerprint(SERVICE_KEY)}`, tenant: 'acme', account: 'alice' });
    // each read counted once, in token.reads
    expect(h.deps.readCounts.pending - countsBefore).toBe(2);
  });

  it('a min_ttl the token still has is a cache hit the lane answers, as the app reads the query', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await linkAccount(h, 'acme', 'alice');
    const { plain, laned, calls } = await servedTwice();
    expect((await fetch(plain.url + TOKEN_PATH, { headers: service })).status).toBe(200);
    const byApp = await seen(await fetch(`${plain.url}${TOKEN_PATH}?min_ttl=120`, { headers: service }));
    const appCalls = calls.app;

    const byLane = await seen(await fetch(`${laned.url}${TOKEN_PATH}?min_ttl=120`, { headers: service }));

    expect(calls.app).toBe(appCalls);
    expect(byLane).toEqual(byApp);
  });

  it('every request that is not a cache hit held by its caller goes to the app, and the lane does nothing with it', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    let monotonic = 0;
    h.deps.tokenCache = new TokenCache({ monotonic: () => monotonic });
    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, 'acme', 'bob');
    const { plain, laned, calls } = await servedTwice();
    const cached = (key: string) => h.deps.tokenCache.lookup(key, h.clock(), 0)!.entry;
    const warm = async () => expect((await fetch(plain.url + TOKEN_PATH, { headers: service })).status).toBe(200);
    await warm();
    const cases: { name: string; path?: string; init?: RequestInit; before?: () => unknown; status: number }[] = [
      { name: 'no credentials', init: { headers: {} }, status: 401 },
      { name: 'an unknown bearer token', init: { headers: { authorization: 'Bearer not-a-key-of-this-broker' } }, status: 401 },
      { name: 'credentials that are not a bearer token', init: { headers: { authorization: `Basic ${SERVICE_KEY}` } }, status: 401 },
      { name: 'a key of another tenant', init: { headers: { authorization: `Bearer ${STRANGER_KEY}` } }, status: 403 },
      {
        name: 'a key of another tenant that the cached token lists as holding its token.read (a grant withdrawn since)',
        init: { headers: { authorization: `Bearer ${STRANGER_KEY}` } },
        before: () => cached('acme/alice').exposedTo.add(hintOf(callerDigest(`key:${keyFingerprint(STRANGER_KEY)}`))),
        status: 403,
      },
      {
        name: 'an account id the schema refuses, even with a token cached under it',
        path: '/v1/tenants/acme/accounts/-alice/token',
        before: () => {
          const alice = cached('acme/alice');
          h.deps.tokenCache.remember({ ...alice, tenant: 'acme', account: '-alice' }, alice.accessToken).exposedTo.add(hintOf(callerDigest(`key:${keyFingerprint(SERVICE_KEY)}`)));
        },
        status: 400,
      },
      { name: 'a repeated parameter', path: `${TOKEN_PATH}?min_ttl=60&min_ttl=61`, status: 400 },
      { name: 'a min_ttl that is not a number', path: `${TOKEN_PATH}?min_ttl=soon`, status: 400 },
      { name: 'a HEAD request', init: { method: 'HEAD', headers: service }, status: 200 },
      { name: 'a forced refresh', path: '/v1/tenants/acme/accounts/alice/refresh', init: { method: 'POST', headers: service }, status: 200 },
      { name: 'another route of the account', path: '/v1/tenants/acme/accounts/alice', init: { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }, status: 200 },
      { name: 'an account not in the cache (a miss)', path: '/v1/tenants/acme/accounts/bob/token', before: () => h.deps.tokenCache.delete('acme/bob'), status: 200 },
      { name: "a caller's first read of the token (its token.read is written first)", init: { headers: { authorization: `Bearer ${OTHER_KEY}` } }, status: 200 },
      { name: 'a cached token due for revalidation', before: () => (monotonic += h.deps.tokenCache.revalidateAfterMs), status: 200 },
      { name: 'a min_ttl the cached token no longer has', path: `${TOKEN_PATH}?min_ttl=3000`, before: () => h.clock.advance(1_000_000), status: 200 },
    ];
    for (const c of cases) {
      await warm();
      await c.before?.();
      const [appCalls, lines] = [calls.app, accessLines().length];

      const res = await fetch(laned.url + (c.path ?? TOKEN_PATH), { headers: service, ...c.init });

      expect({ case: c.name, status: res.status, appCalls: calls.app - appCalls, lines: accessLines().length - lines }).toEqual({ case: c.name, status: c.status, appCalls: 1, lines: 1 });
    }
  });

  it('a read the app serves from memory is counted once when the lane declines it', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await linkAccount(h, 'acme', 'alice');
    const { plain, laned, calls } = await servedTwice();
    expect((await fetch(plain.url + TOKEN_PATH, { headers: service })).status).toBe(200);
    const before = { counts: h.deps.readCounts.pending, app: calls.app };

    // the app answers a HEAD as the GET route, without the body; the lane answers GETs only
    const res = await fetch(laned.url + TOKEN_PATH, { method: 'HEAD', headers: service });

    expect(res.status).toBe(200);
    expect(accessLines().at(-1)).toMatchObject({ cache: 'hit' });
    expect({ counted: h.deps.readCounts.pending - before.counts, byApp: calls.app - before.app }).toEqual({ counted: 1, byApp: 1 });
  });

  it('under IAM (mode aws) the lane answers nothing: the caller comes from API Gateway, which only the app reads', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await linkAccount(h, 'acme', 'alice');
    const { plain, laned, calls } = await servedTwice((deps) => cachedTokenLane({ ...deps, config: { ...deps.config, mode: 'aws' } as BrokerConfig }));
    expect((await fetch(plain.url + TOKEN_PATH, { headers: service })).status).toBe(200);
    const before = calls.app;

    const res = await fetch(laned.url + TOKEN_PATH, { headers: service });

    expect(res.status).toBe(200);
    expect(calls.app - before).toBe(1);
  });
});
