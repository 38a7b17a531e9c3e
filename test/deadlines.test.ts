/**
 * Deadlines on every dependency (issue 13, items 1 and 2). The store is made unreachable for real,
 * by a TCP proxy in front of the run's DynamoDB Local (frozen, dropped, refused, cut off mid-answer);
 * the provider by the simulator's hangs, drops and `takeDown()`. No assertion measures time: a call
 * without a deadline on a frozen dependency never settles, so "it settled while the dependency was
 * still unreachable" is what each test proves.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTcpFaultProxy, type ProxyMode, type TcpFaultProxy } from '../chaos/tcp-proxy.js';
import { createBrokerClient, BrokerClientError } from '../client/index.js';
import { FORCED_REFRESH_FLOOR_MS } from '../lib/broker/refresh.js';
import { toBrokerError } from '../lib/errors.js';
import { createLogger } from '../lib/log.js';
import { getTenant } from '../lib/store/tenants.js';
import { createDb } from '../lib/store/table.js';
import { startLocalBroker, type LocalBroker } from '../local/local-broker.js';
import { ScriptedBrowser } from '../simulator/scripted-browser.js';
import { startLongPortSimulator, type LongPortSimulator } from '../simulator/longport-simulator.js';
import { dynamoEndpoint, freshTable } from './support/dynamo.js';

/** A service key of another tenant: refused acme's tokens. */
const OTHER_TENANTS_KEY = 'svc-other-0123456789abcdef';

let cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

/** The broker's and the provider's clock (both Date, going on in real time) past the 10 s in which forced refreshes coalesce. */
function pastTheForcedRefreshFloor(): void {
  vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
  vi.setSystemTime(Date.now() + FORCED_REFRESH_FLOOR_MS);
}

/** A proxy in front of the run's DynamoDB Local. */
async function storeProxy(): Promise<TcpFaultProxy> {
  const proxy = await startTcpFaultProxy({ port: Number(new URL(dynamoEndpoint()).port) });
  cleanups.push(() => proxy.close());
  return proxy;
}

async function settled(call: () => Promise<unknown>): Promise<{ ok: true; value: unknown } | { ok: false; err: unknown }> {
  try {
    return { ok: true, value: await call() };
  } catch (err) {
    return { ok: false, err };
  }
}

/** The broker as `npm start` runs it (its real clock, deadlines and clients), on a store behind `proxy`. */
async function localBroker(proxy: TcpFaultProxy, sim: LongPortSimulator, logs: string[] = []): Promise<LocalBroker> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lpb-deadlines-'));
  const { table } = await freshTable('deadlines');
  const broker = await startLocalBroker({
    env: {
      PORT: '0',
      BROKER_DATA_DIR: dataDir,
      LONGPORT_ISSUER: sim.issuer,
      DYNAMODB_ENDPOINT: proxy.url,
      BROKER_TABLE_NAME: table,
      BROKER_API_KEYS: JSON.stringify({ [OTHER_TENANTS_KEY]: { tenants: ['other'], role: 'service' } }),
    },
    log: createLogger({ sink: (line) => logs.push(line) }),
    refresher: false,
  });
  cleanups.push(async () => {
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  return broker;
}

async function simulator(): Promise<LongPortSimulator> {
  const sim = await startLongPortSimulator();
  cleanups.push(() => sim.close());
  return sim;
}

/** register → link → provider login → callback, over real HTTP. */
async function linked(broker: LocalBroker, account: string): Promise<void> {
  const headers = { authorization: `Bearer ${broker.adminToken}`, 'content-type': 'application/json' };
  const reg = await fetch(`${broker.url}/v1/tenants/acme`, { method: 'PUT', headers, body: JSON.stringify({ region: 'global' }) });
  expect([200, 201]).toContain(reg.status);
  const link = (await (await fetch(`${broker.url}/v1/tenants/acme/accounts/${account}/link`, { method: 'POST', headers, body: '{}' })).json()) as { link_url: string };
  const { callback } = await new ScriptedBrowser(() => (url, init) => fetch(url, { ...init, redirect: 'manual' })).completeLink(link.link_url);
  expect(callback.status).toBe(200);
}

/** A broker on a store behind a proxy, with tenant acme and its account alice linked (long enough ago that a forced refresh calls the provider). */
async function brokerWithAlice() {
  const proxy = await storeProxy();
  const sim = await simulator();
  const logs: string[] = [];
  const broker = await localBroker(proxy, sim, logs);
  await linked(broker, 'alice');
  pastTheForcedRefreshFloor();
  return { proxy, sim, logs, broker };
}

const call = (broker: LocalBroker, method: string, path: string, body?: unknown, token = broker.adminToken) =>
  fetch(`${broker.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

/** A 503 with a Retry-After of 1 to 60 s and, on the API (JSON), the error `code`. */
async function expect503(res: Response, code: string): Promise<void> {
  expect(res.status).toBe(503);
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  if (res.headers.get('content-type')?.startsWith('application/json')) expect(await res.json()).toMatchObject({ error: code });
}

describe('the store has a connection and a request deadline', () => {
  it.each<ProxyMode>(['freeze', 'drop', 'refuse', 'cut'])(
    'a store that is unreachable (%s) fails the call with 503 temporarily_unavailable and a Retry-After of at most 60 s while it is still unreachable, and serves again once it is back',
    async (mode) => {
      const proxy = await storeProxy();
      const { table } = await freshTable('deadline');
      const db = createDb({ table, endpoint: proxy.url });
      expect(await getTenant(db, 'acme')).toBeUndefined();

      await proxy.set(mode);
      const outcome = await settled(() => getTenant(db, 'acme'));
      const stillUnreachable = proxy.mode === mode;
      await proxy.set('pass');
      const afterwards = await settled(() => getTenant(db, 'acme'));

      expect(stillUnreachable).toBe(true);
      expect(outcome.ok).toBe(false);
      const failure = toBrokerError(!outcome.ok && outcome.err);
      expect(failure).toMatchObject({ code: 'temporarily_unavailable', status: 503 });
      expect(failure.retryAfterS).toBeGreaterThanOrEqual(1);
      expect(failure.retryAfterS).toBeLessThanOrEqual(60);
      expect(afterwards).toEqual({ ok: true, value: undefined });
    },
  );
});

describe('no request waits on an unreachable store', () => {
  it('with the store frozen, every /v1 answer comes while it is still frozen: a 503 with Retry-After (never a 500), a 403 for a caller of another tenant; each 503 counts StoreUnavailable', async () => {
    const { proxy, logs, broker } = await brokerWithAlice();
    const before = logs.length;

    await proxy.set('freeze');
    const [tokenRead, denied, accountList, registration, link, page] = await Promise.all([
      call(broker, 'GET', '/v1/tenants/acme/accounts/alice/token'),
      call(broker, 'GET', '/v1/tenants/acme/accounts/alice/token', undefined, OTHER_TENANTS_KEY),
      call(broker, 'GET', '/v1/tenants/acme/accounts'),
      call(broker, 'PUT', '/v1/tenants/beta', { region: 'global' }),
      call(broker, 'POST', '/v1/tenants/acme/accounts/bob/link', {}),
      fetch(`${broker.url}/oauth/authorize?link=${'A'.repeat(43)}`),
    ]);
    const stillFrozen = proxy.mode === 'freeze';

    expect(stillFrozen).toBe(true);
    for (const res of [accountList, registration, link, page]) await expect503(res, 'temporarily_unavailable');
    // a token read is answered (a token from memory, or a 503), never held
    expect([200, 503]).toContain(tokenRead.status);
    if (tokenRead.status === 503) await expect503(tokenRead, 'temporarily_unavailable');
    // the refusal stands without its audit record (refusing is always safe)
    expect(denied.status).toBe(403);
    const counted = logs.slice(before).filter((line) => JSON.parse(line).StoreUnavailable === 1);
    expect(counted.length).toBeGreaterThanOrEqual(4);
  });

  it('a store outage is told apart from a provider outage: a provider that refuses connections answers 503 upstream_unavailable and counts no StoreUnavailable', async () => {
    const { sim, logs, broker } = await brokerWithAlice();
    const before = logs.length;

    await sim.takeDown();
    const res = await call(broker, 'POST', '/v1/tenants/acme/accounts/alice/refresh');

    await expect503(res, 'upstream_unavailable');
    expect(logs.slice(before).filter((line) => 'StoreUnavailable' in JSON.parse(line))).toEqual([]);
  });
});

describe('every call to the provider has a deadline', () => {
  it.each([
    ['hangs (reads the request, never answers)', (sim: LongPortSimulator) => sim.setFaults({ hang: ['token'] })],
    ['drops the connection before processing', (sim: LongPortSimulator) => sim.setFaults({ dropBeforeProcessing: true })],
    ['is down (connection refused)', (sim: LongPortSimulator) => sim.takeDown()],
    ['answers 500', (sim: LongPortSimulator) => sim.setFaults({ tokenStatus: 500 })],
  ] as const)('a token endpoint that %s makes a forced refresh answer 503 upstream_unavailable with a Retry-After of at most 60 s, while the fault lasts', async (_name, fault) => {
    const { sim, broker } = await brokerWithAlice();

    await fault(sim);
    const res = await call(broker, 'POST', '/v1/tenants/acme/accounts/alice/refresh');
    const faultLasts = Object.keys(sim.faults).length > 0 || !sim.listening;

    expect(faultLasts).toBe(true);
    await expect503(res, 'upstream_unavailable');
  });

  it('a discovery endpoint that hangs makes a tenant registration answer 503 upstream_unavailable with a Retry-After, while it hangs', async () => {
    const proxy = await storeProxy();
    const sim = await simulator();
    const broker = await localBroker(proxy, sim);
    sim.setFaults({ hang: ['discovery'] });

    const res = await call(broker, 'PUT', '/v1/tenants/acme', { region: 'global' });
    const hung = sim.stats.hungRequests.length;

    expect(hung).toBeGreaterThanOrEqual(1);
    expect(sim.faults.hang).toEqual(['discovery']);
    await expect503(res, 'upstream_unavailable');
  });
});

describe('the typed client', () => {
  it('retries a 503 caused by an unreachable store (connection refused) after its Retry-After, then throws temporarily_unavailable with the Retry-After', async () => {
    const { proxy, broker } = await brokerWithAlice();
    let sent = 0;
    const client = createBrokerClient({
      baseUrl: broker.url,
      auth: { type: 'bearer', token: broker.adminToken },
      fetch: (input, init) => {
        sent += 1;
        return fetch(input, init);
      },
    });

    await proxy.set('refuse');
    const outcome = await settled(() => client.refresh('acme', 'alice'));

    expect(outcome.ok).toBe(false);
    const err = !outcome.ok ? outcome.err : undefined;
    expect(err).toBeInstanceOf(BrokerClientError);
    expect(err).toMatchObject({ status: 503, error: 'temporarily_unavailable' });
    expect((err as BrokerClientError).retryAfterS).toBeGreaterThanOrEqual(1);
    // the default policy: 3 attempts in all
    expect(sent).toBe(3);
  });
});
