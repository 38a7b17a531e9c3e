import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpFaultProxy, type TcpFaultProxy } from '../chaos/tcp-proxy.js';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import type { BrokerDeps } from '../lib/broker/deps.js';
import { answersWithoutRefresh, FORCED_REFRESH_FLOOR_MS, MIN_REFRESH_INTERVAL_MS } from '../lib/broker/refresh.js';
import { COMMIT_MARGIN_MS, LEASE_MS, STORE_ATTEMPT_MS } from '../lib/broker/refresh-commit.js';
import { runRefresher } from '../lib/broker/refresher.js';
import { localDataKeys } from '../lib/crypto/local-keys.js';
import { BrokerError } from '../lib/errors.js';
import { memoryPublisher } from '../lib/events.js';
import { buildBrokerApp } from '../lib/http/broker-app.js';
import { ALL_GROUPS } from '../lib/http/routes/index.js';
import { createLogger } from '../lib/log.js';
import { assembleDeps } from '../lib/runtime/assemble.js';
import { getAccount, takeRefreshLease } from '../lib/store/accounts.js';
import type { AccountTokens } from '../lib/store/records.js';
import { keys } from '../lib/store/schema.js';
import { createDb, ensureTable } from '../lib/store/table.js';
import { dynamoEndpoint } from './support/dynamo.js';
import { api, linkAccount } from './support/flow.js';
import { adminHeaders, PUBLIC_URL, startHarness, type Harness } from './support/harness.js';

let h: Harness;
let proxy: TcpFaultProxy | undefined;
afterEach(async () => {
  await h?.close();
  await proxy?.close();
  proxy = undefined;
});

const tokenPath = (account = 'alice') => `/v1/tenants/acme/accounts/${account}/token`;

async function token(account = 'alice', query = '') {
  const res = await api(h, 'GET', tokenPath(account) + query);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function callLongPort(accessToken: string) {
  return (await fetch(`${h.sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${accessToken}` } })).status;
}

/** Moves the broker's (and simulator's) clock to `seconds` before the account's access token expires. */
async function moveToBeforeExpiry(seconds: number, account = 'alice') {
  const rec = await getAccount(h.db, 'acme', account);
  h.clock.set(rec!.expiresAt - seconds * 1000);
}

describe('on-demand refresh', () => {
  it('single-flight in one process: 50 concurrent token calls at expiry make exactly one refresh grant and all get the same valid token', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await moveToBeforeExpiry(5);

    const answers = await Promise.all(Array.from({ length: 50 }, () => token()));

    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.body.access_token)).size).toBe(1);
    expect(h.sim.stats.refreshGrants).toBe(1);
    expect(h.sim.stats.reuseDetected).toBe(0);
    expect(await callLongPort(answers[0]!.body.access_token as string)).toBe(200);
  });

  it('a token with more than min_ttl left is served without contacting the provider', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await moveToBeforeExpiry(600);

    const answer = await token('alice', '?min_ttl=300');

    expect(answer.status).toBe(200);
    expect(h.sim.stats.refreshGrants).toBe(0);
  });

  it('rotation: the new refresh token is stored and the old one is never presented again', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');

    for (let i = 0; i < 3; i++) {
      await moveToBeforeExpiry(5);
      expect((await token()).status).toBe(200);
    }

    expect(h.sim.stats.refreshGrants).toBe(3);
    expect(h.sim.stats.reuseDetected).toBe(0);
    expect([...h.sim.stats.refreshGrantsByToken.values()].every((n) => n === 1)).toBe(true);
  });

  it('no rotation: an answer without refresh_token keeps the stored one, which keeps working', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.sim.setFaults({ rotation: false });

    await moveToBeforeExpiry(5);
    const first = await token();
    await moveToBeforeExpiry(5);
    const second = await token();

    expect([first.status, second.status]).toEqual([200, 200]);
    expect(h.sim.stats.refreshGrants).toBe(2);
    expect(h.sim.stats.refreshGrantsByToken.size).toBe(1);
  });

  it('no expires_in: the token is taken to live 3600 s from its local receipt', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.sim.setFaults({ omitExpiresIn: true });
    await moveToBeforeExpiry(5);
    const receivedAt = h.clock();

    const answer = await token();

    expect(answer.status).toBe(200);
    expect(Date.parse(answer.body.expires_at as string)).toBe(receivedAt + 3600 * 1000);
  });

  it('clock skew: expiry is the local receipt time plus expires_in, whatever the provider clock says', async () => {
    h = await startHarness({ simulator: { clock: () => Date.now() + 6 * 3600 * 1000 } });
    await linkAccount(h, 'acme', 'alice');

    const rec = await getAccount(h.db, 'acme', 'alice');

    expect(rec!.expiresAt).toBe(h.clock() + 3600 * 1000);
  });

  it('x-dc-region: us_ tokens are sent with x-dc-region us, others with ap', async () => {
    h = await startHarness({ simulator: { tokenPrefix: 'us_' } });
    await linkAccount(h, 'acme', 'alice');
    await moveToBeforeExpiry(5);

    await token();

    const refresh = h.sim.stats.tokenRequests.find((r) => r.grantType === 'refresh_token');
    expect(refresh?.dcRegion).toBe('us');
    const other = await startHarness();
    try {
      await linkAccount(other, 'acme', 'bob');
      expect(other.sim.stats.tokenRequests[0]?.dcRegion).toBe('ap');
    } finally {
      await other.close();
    }
  });
});

describe('failures', () => {
  it('invalid_grant marks the account needs_reauth with an event; the token route answers 409 reauth_required and says how to link again', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.sim.revokeAll();
    await moveToBeforeExpiry(5);

    const answer = await token();

    expect(answer.status).toBe(409);
    expect(answer.body.error).toBe('reauth_required');
    expect(answer.body.error_description).toContain('/v1/tenants/acme/accounts/alice/link');
    expect((await getAccount(h.db, 'acme', 'alice'))!.status).toBe('needs_reauth');
    expect(h.events.map((e) => e.type)).toContain('ReauthRequired');
  });

  it('rotated then dropped: the provider rotated but the answer was lost; the account ends needs_reauth with an event, and no loop of attempts', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.sim.setFaults({ dropAfterRotate: true, failCount: 1 });
    await moveToBeforeExpiry(5);

    const first = await token();
    const grantsAfterFirst = h.sim.stats.tokenRequests.filter((r) => r.grantType === 'refresh_token').length;
    const second = await token();

    expect(first.status).toBe(409);
    expect(first.body.error).toBe('reauth_required');
    expect(second.status).toBe(409);
    // one dropped attempt, one retry that met invalid_grant; after that the provider is left alone
    expect(grantsAfterFirst).toBeLessThanOrEqual(2);
    expect(h.sim.stats.tokenRequests.filter((r) => r.grantType === 'refresh_token').length).toBe(grantsAfterFirst);
    expect(h.events.filter((e) => e.type === 'ReauthRequired')).toHaveLength(1);
  });

  it('5xx: retried; while every attempt fails the still-valid token is served and the account stays linked', async () => {
    h = await startHarness();
    const linked = await linkAccount(h, 'acme', 'alice');
    expect(linked.callback.status).toBe(200);
    const before = await token();
    h.sim.setFaults({ tokenStatus: 503, retryAfterS: 0 });
    await moveToBeforeExpiry(30);

    const answer = await token();

    expect(answer.status).toBe(200);
    expect(answer.body.access_token).toBe(before.body.access_token);
    expect(h.sim.stats.tokenRequests.filter((r) => r.grantType === 'refresh_token').length).toBeGreaterThan(1);
    const rec = await getAccount(h.db, 'acme', 'alice');
    expect(rec!.status).toBe('linked');
    expect(rec!.lastError).toBe('upstream_unavailable');
    expect(h.events.map((e) => e.type)).toContain('TokenRefreshFailed');
  });

  it('429 with Retry-After: the broker waits as told, retries, and the refresh succeeds', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.sim.setFaults({ tokenStatus: 429, retryAfterS: 1, failCount: 1 });
    await moveToBeforeExpiry(5);

    const answer = await token();

    expect(answer.status).toBe(200);
    expect(h.sim.stats.refreshGrants).toBe(1);
    expect((await getAccount(h.db, 'acme', 'alice'))!.status).toBe('linked');
  });

  it('an expired token with the provider down answers 503 with Retry-After, and the account stays linked', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.sim.setFaults({ tokenStatus: 503, retryAfterS: 0 });
    await moveToBeforeExpiry(-10);

    const res = await api(h, 'GET', tokenPath());

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).not.toBeNull();
    expect(((await res.json()) as { error: string }).error).toBe('upstream_unavailable');
    expect((await getAccount(h.db, 'acme', 'alice'))!.status).toBe('linked');
  });

  it('a transient failure followed by success publishes AccountRecovered', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.sim.setFaults({ tokenStatus: 503, retryAfterS: 0 });
    await moveToBeforeExpiry(30);
    await token();
    h.sim.resetFaults();

    const answer = await token();

    expect(answer.status).toBe(200);
    expect(h.events.map((e) => e.type)).toContain('AccountRecovered');
  });

  it('a holder that dies mid-refresh (lease never released): the next caller refreshes once the lease expires', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await moveToBeforeExpiry(-1);
    const rec = await getAccount(h.db, 'acme', 'alice');
    // a short lease keeps the test's clock jump well inside the request's own deadline
    const crashedLeaseMs = 2_000;
    const taken = await takeRefreshLease(h.db, rec!, rec!.generation, 'crashed-instance', h.clock(), crashedLeaseMs);
    expect(taken.ok).toBe(true);

    const pending = token();
    await new Promise((r) => setTimeout(r, 100));
    expect(h.sim.stats.refreshGrants).toBe(0);
    h.clock.advance(crashedLeaseMs + 1);
    const answer = await pending;

    expect(answer.status).toBe(200);
    expect(h.sim.stats.refreshGrants).toBe(1);
  });
});

describe('scheduled refresher', () => {
  async function linkMany(n: number) {
    for (let i = 0; i < n; i++) await linkAccount(h, 'acme', `user-${i}`);
  }

  it('refreshes the accounts that are due, found through the due index, and nothing else', async () => {
    h = await startHarness();
    await linkMany(3);
    // user-0 is not due yet
    await h.db.doc.send(new UpdateCommand({ TableName: h.db.table, Key: keys.account('acme', 'user-0'), UpdateExpression: 'SET dueAt = :far', ExpressionAttributeValues: { ':far': Math.floor(h.clock() / 1000) + 86_400 } }));
    h.clock.advance(3000 * 1000);

    const report = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });

    expect(report.due).toBe(2);
    expect(report.refreshed).toBe(2);
    expect(report.itemsRead).toBe(2);
    expect(h.sim.stats.refreshGrants).toBe(2);
    expect((await getAccount(h.db, 'acme', 'user-1'))!.expiresAt).toBeGreaterThan(h.clock() + 3000 * 1000);
  });

  it('two refresher runs at once over the same due accounts make one grant per account', async () => {
    h = await startHarness();
    await linkMany(4);
    h.clock.advance(3000 * 1000);

    const [a, b] = await Promise.all([runRefresher(h.deps, { deadline: h.clock() + 60_000 }), runRefresher(h.deps, { deadline: h.clock() + 60_000 })]);

    expect(a.refreshed + b.refreshed).toBe(4);
    expect(h.sim.stats.refreshGrants).toBe(4);
    expect(h.sim.stats.reuseDetected).toBe(0);
  });

  it('a refreshed account is not due again until its new token nears expiry', async () => {
    h = await startHarness();
    await linkMany(1);
    h.clock.advance(3000 * 1000);
    await runRefresher(h.deps, { deadline: h.clock() + 60_000 });

    const second = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });

    expect(second.due).toBe(0);
    expect(h.sim.stats.refreshGrants).toBe(1);
  });

  it('an account that needs reauth leaves the due index: the refresher never retries it', async () => {
    h = await startHarness();
    await linkMany(1);
    h.sim.revokeAll();
    h.clock.advance(3000 * 1000);

    const first = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });
    h.clock.advance(3600 * 1000);
    const second = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });

    expect(first.failed).toEqual({ reauth_required: 1 });
    expect(second.due).toBe(0);
    expect(h.events.filter((e) => e.type === 'ReauthRequired')).toHaveLength(1);
  });

  it('a transient failure keeps the account linked and due again after Retry-After', async () => {
    h = await startHarness();
    await linkMany(1);
    h.sim.setFaults({ tokenStatus: 429, retryAfterS: 120 });
    h.clock.advance(3000 * 1000);

    const first = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });
    h.sim.resetFaults();
    const tooSoon = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });
    h.clock.advance(121 * 1000);
    const later = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });

    expect(first.failed).toEqual({ upstream_unavailable: 1 });
    expect(tooSoon.due).toBe(0);
    expect(later.refreshed).toBe(1);
    expect((await getAccount(h.db, 'acme', 'user-0'))!.status).toBe('linked');
  });
});

describe('review fixes', () => {
  it('callers with different min_ttl never share an answer that is too short for one of them', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await moveToBeforeExpiry(500);

    const [relaxed, strict] = await Promise.all([token('alice', '?min_ttl=60'), token('alice', '?min_ttl=900')]);

    expect(relaxed.status).toBe(200);
    expect(strict.status).toBe(200);
    expect(strict.body.expires_in as number).toBeGreaterThanOrEqual(900);
    expect(h.sim.stats.refreshGrants).toBe(1);
  });

  it('tokens go back only to the issuer that granted them: after a region move the account needs reauth, and nothing is sent', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await h.db.doc.send(new UpdateCommand({ TableName: h.db.table, Key: keys.tenant('acme'), UpdateExpression: 'SET issuer = :other', ExpressionAttributeValues: { ':other': 'https://openapi.longportapp.cn' } }));
    await moveToBeforeExpiry(5);
    const requestsBefore = h.sim.stats.tokenRequests.length;

    const answer = await token();

    expect(answer.status).toBe(409);
    expect(answer.body.error).toBe('reauth_required');
    expect(h.sim.stats.tokenRequests.length).toBe(requestsBefore);
    expect((await getAccount(h.db, 'acme', 'alice'))!.lastError).toBe('issuer_changed');
    expect(h.events.filter((e) => e.type === 'TokenRefreshFailed')).toHaveLength(0);
  });

  it('invalid_client is not retried every minute: the account stays linked and is due again in an hour', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await h.db.doc.send(new UpdateCommand({ TableName: h.db.table, Key: keys.tenant('acme'), UpdateExpression: 'SET clientId = :gone', ExpressionAttributeValues: { ':gone': 'client-deleted-at-provider' } }));
    await moveToBeforeExpiry(30);

    const answer = await token();

    expect(answer.status).toBe(200); // the still-valid token is served
    const rec = await getAccount(h.db, 'acme', 'alice');
    expect(rec!.status).toBe('linked');
    expect(rec!.lastError).toBe('invalid_client');
    expect(rec!.dueAt).toBeGreaterThanOrEqual(Math.floor(h.clock() / 1000) + 3600);
  });

  it('a rotated pair survives a passing failure to seal it: the commit is retried and the new refresh token keeps working', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const seal = h.deps.cipher.seal.bind(h.deps.cipher);
    let failures = 1;
    h.deps.cipher.seal = async (value, context) => {
      if (failures-- > 0) throw new BrokerError('temporarily_unavailable', 503, 'key service throttled');
      return seal(value, context);
    };
    await moveToBeforeExpiry(5);

    const first = await token();
    await moveToBeforeExpiry(5);
    const second = await token();

    expect([first.status, second.status]).toEqual([200, 200]);
    expect(h.sim.stats.refreshGrants).toBe(2);
    expect(h.sim.stats.reuseDetected).toBe(0);
  });
});

/** Another broker instance (its own id, single-flight and cache) on the harness's table, key, clock and provider. */
function secondInstance(h: Harness): { deps: BrokerDeps; token: (query?: string) => Promise<{ status: number; body: Record<string, unknown> }> } {
  const deps = assembleDeps({
    config: h.deps.config,
    db: h.db,
    keys: localDataKeys(h.masterKey),
    events: memoryPublisher(),
    log: createLogger({ sink: (line) => h.logs.push(line), level: 'debug' }),
    clock: h.clock,
    http: h.deps.http,
  });
  const app = buildBrokerApp(deps, ALL_GROUPS);
  return {
    deps,
    async token(query = '') {
      const res = await app.request(`${PUBLIC_URL}${tokenPath()}${query}`, { headers: adminHeaders });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
  };
}

async function storedTokens(account = 'alice'): Promise<AccountTokens> {
  const rec = (await getAccount(h.db, 'acme', account))!;
  return h.deps.cipher.open<AccountTokens>(rec.sealedTokens, accountTokensContext('acme', account));
}

/** Makes this instance's key service refuse to seal (throttled) until `heal()`; counts the attempts. */
function failSealing(deps: BrokerDeps) {
  const seal = deps.cipher.seal.bind(deps.cipher);
  const state = { failing: true, attempts: 0, heal: () => (state.failing = false) };
  deps.cipher.seal = async (value, context) => {
    state.attempts += 1;
    if (state.failing) throw new BrokerError('temporarily_unavailable', 503, 'key service throttled');
    return seal(value, context);
  };
  return state;
}

const logEvents = () => h.logs.map((l) => JSON.parse(l) as { event: string; reason?: string });

describe('min_ttl, as the contract states it', () => {
  const rec = { refreshedAt: 0, expiresAt: 3_600_000 };

  it.each([
    ['a token with min_ttl left is the answer', { mode: 'ensure', minTtlMs: 60_000 }, 1_000_000, true],
    ['min_ttl shorter than the lifetime the provider issues is guaranteed, also right after a refresh', { mode: 'ensure', minTtlMs: 3_590_000 }, 20_000, false],
    ['min_ttl at or above the lifetime: the token refreshed moments ago is the freshest, served as it is', { mode: 'ensure', minTtlMs: 3_600_000 }, MIN_REFRESH_INTERVAL_MS - 1, true],
    ['min_ttl at or above the lifetime: an older token is refreshed', { mode: 'ensure', minTtlMs: 4_000_000 }, MIN_REFRESH_INTERVAL_MS, false],
    ['an expired token is never the answer', { mode: 'ensure', minTtlMs: 0 }, 3_600_000, false],
    ['forced refreshes coalesce: within 10 s of the last refresh, that token is the answer', { mode: 'force', minTtlMs: 0 }, FORCED_REFRESH_FLOOR_MS - 1, true],
    ['a forced refresh 10 s after the last one refreshes', { mode: 'force', minTtlMs: 0 }, FORCED_REFRESH_FLOOR_MS, false],
  ] as const)('%s (injected clock)', (_rule, req, now, answers) => {
    expect(answersWithoutRefresh(rec, req, now)).toBe(answers);
  });

  it('min_ttl shorter than the lifetime the provider issues is guaranteed, also right after a refresh: concurrent callers share one refresh and each gets at least min_ttl', async () => {
    h = await startHarness({ simulator: { accessTokenTtlS: 600 } });
    await linkAccount(h, 'acme', 'alice');
    // linked 20 s ago: 580 s left of a 600 s lifetime
    h.clock.advance(20_000);

    const answers = await Promise.all(Array.from({ length: 10 }, () => token('alice', '?min_ttl=590')));

    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(answers.every((a) => (a.body.expires_in as number) >= 590)).toBe(true);
    expect(new Set(answers.map((a) => a.body.access_token)).size).toBe(1);
    expect(h.sim.stats.refreshGrants).toBe(1);
  });

  it('min_ttl at or above the lifetime the provider issues: the freshest token is served as it is, with its true expires_in', async () => {
    h = await startHarness({ simulator: { accessTokenTtlS: 600 } });
    await linkAccount(h, 'acme', 'alice');
    await moveToBeforeExpiry(100);
    const first = await token('alice', '?min_ttl=900');
    h.clock.advance(10_000);

    const second = await token('alice', '?min_ttl=900');

    expect([first.status, second.status]).toEqual([200, 200]);
    expect(first.body.expires_in).toBe(600);
    expect(second.body.expires_in).toBe(590);
    expect(second.body.access_token).toBe(first.body.access_token);
    expect(h.sim.stats.refreshGrants).toBe(1);
  });
});

describe('forced refreshes coalesce', () => {
  const refresh = async () => {
    const res = await api(h, 'POST', '/v1/tenants/acme/accounts/alice/refresh');
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it("within 10 s of an account's last refresh, POST …/refresh answers that fresh token without calling the provider", async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const linked = await storedTokens();

    const sequential = [];
    for (let i = 0; i < 30; i++) sequential.push(await refresh());
    h.clock.advance(FORCED_REFRESH_FLOOR_MS - 1);
    const stillFresh = await refresh();
    h.clock.advance(1);
    const later = await refresh();
    const right = await refresh();

    expect(sequential.every((a) => a.status === 200 && a.body.access_token === linked.access_token)).toBe(true);
    expect(stillFresh.body.access_token).toBe(linked.access_token);
    expect(later.status).toBe(200);
    expect(later.body.access_token).not.toBe(linked.access_token);
    expect(right.body.access_token).toBe(later.body.access_token);
    expect(h.sim.stats.refreshGrants).toBe(1);
  });
});

describe('rotated pairs are never dropped', () => {
  it('the store unreachable for 30 s during a refresh: the caller is answered within seconds, the rotated pair is committed once the store is back, and its refresh token keeps working', async () => {
    // DynamoDB Local behind a TCP proxy: a refusing proxy makes the store unreachable for real
    proxy = await startTcpFaultProxy(dynamoEndpoint());
    const db = createDb({ table: `test-${randomBytes(4).toString('hex')}`, endpoint: proxy.url });
    await ensureTable(db);
    h = await startHarness({ db });
    await linkAccount(h, 'acme', 'alice');
    const before = await storedTokens();
    const generation = (await getAccount(h.db, 'acme', 'alice'))!.generation;
    await moveToBeforeExpiry(40);
    h.sim.holdTokenRequests('received', { grantType: 'refresh_token' });

    const pending = api(h, 'GET', tokenPath());
    const held = await h.sim.tokenRequestHeld();
    await proxy.set('refuse');
    held.release();
    const answer = await pending;
    // 30 s of the broker's clock pass with the store unreachable, the commit retrying all along
    for (let i = 0; i < 6; i++) {
      h.clock.advance(5_000);
      await sleep(250);
    }
    await proxy.set('pass');
    await h.deps.background.drain(15_000);

    expect(answer.status).toBe(503);
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    const after = await getAccount(h.db, 'acme', 'alice');
    expect(after!.generation).toBe(generation + 1);
    expect((await storedTokens()).refresh_token).not.toBe(before.refresh_token);
    expect(logEvents().map((l) => l.event)).not.toContain('refresh.rotated_pair_lost');
    expect(logEvents().map((l) => l.event)).toContain('refresh.commit_pending');
    await moveToBeforeExpiry(5);
    expect((await token()).status).toBe(200);
    expect(h.sim.stats.refreshGrants).toBe(2);
    expect(h.sim.stats.reuseDetected).toBe(0);
  }, 60_000);

  it('no other process presents the old refresh token while a commit is pending and the lease holds', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const other = secondInstance(h);
    const old = await storedTokens();
    await moveToBeforeExpiry(40);
    const sealing = failSealing(h.deps);

    const first = await token();
    h.clock.advance(20_000);
    const second = await other.token();
    const grantsWhileHeld = h.sim.stats.refreshGrants;
    sealing.heal();
    await h.deps.background.drain(10_000);
    const third = await other.token();

    // both callers were answered with the still-valid token while the new pair was on its way
    expect([first.status, second.status]).toEqual([200, 200]);
    expect([first.body.access_token, second.body.access_token]).toEqual([old.access_token, old.access_token]);
    expect(grantsWhileHeld).toBe(1);
    expect(h.sim.stats.reuseDetected).toBe(0);
    expect(third.body.access_token).not.toBe(old.access_token);
    expect(third.body.access_token).toBe((await storedTokens()).access_token);
    expect(sealing.attempts).toBeGreaterThan(1);
  });

  it('commit retries never outlive the lease: none starts after the lease end less the margin, and nothing is committed afterwards', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const generation = (await getAccount(h.db, 'acme', 'alice'))!.generation;
    await moveToBeforeExpiry(40);
    const sealing = failSealing(h.deps);

    const first = await token();
    const { leaseUntil } = (await getAccount(h.db, 'acme', 'alice'))!;
    h.clock.set(leaseUntil! - COMMIT_MARGIN_MS - STORE_ATTEMPT_MS + 1);
    await h.deps.background.drain(10_000);
    const attemptsWhenStopped = sealing.attempts;
    sealing.heal();
    await sleep(500);

    expect(first.status).toBe(200);
    expect(leaseUntil! - LEASE_MS).toBeLessThanOrEqual(h.clock());
    expect(h.deps.background.pending).toBe(0);
    expect(sealing.attempts).toBe(attemptsWhenStopped);
    expect((await getAccount(h.db, 'acme', 'alice'))!.generation).toBe(generation);
    expect(logEvents()).toContainEqual(expect.objectContaining({ event: 'refresh.rotated_pair_lost', reason: 'commit_failed_until_lease_end' }));
  });

  it('a lease holder that outlives its lease: the next holder refreshes, and the compare-and-set on the generation keeps its newer pair from the late commit', async () => {
    // no rotation: the late holder's refresh token stays valid, so only the store can tell the pairs apart
    h = await startHarness();
    h.sim.setFaults({ rotation: false });
    await linkAccount(h, 'acme', 'alice');
    const other = secondInstance(h);
    const generation = (await getAccount(h.db, 'acme', 'alice'))!.generation;
    await moveToBeforeExpiry(10);
    h.sim.holdTokenRequests('received', { grantType: 'refresh_token' });

    const late = token();
    const held = await h.sim.tokenRequestHeld();
    h.clock.advance(LEASE_MS + 1);
    const next = await other.token();
    held.release();
    const lateAnswer = await late;
    await h.deps.background.drain(10_000);

    expect(next.status).toBe(200);
    expect(h.sim.stats.refreshGrants).toBe(2);
    const stored = await getAccount(h.db, 'acme', 'alice');
    expect(stored!.generation).toBe(generation + 1);
    expect((await storedTokens()).access_token).toBe(next.body.access_token);
    // the late holder's caller, long past its deadline, gets 503; its commit lost to the newer pair
    expect(lateAnswer.status).toBe(503);
    expect(logEvents().map((l) => l.event)).toContain('refresh.commit_lost');
  });
});

describe('invalid_client: the operator must act', () => {
  it("the operator's next step is in the TokenRefreshFailed event and the log; the tenant is marked once, and its other accounts are not sent to the provider", async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, 'acme', 'bob');
    await h.db.doc.send(new UpdateCommand({ TableName: h.db.table, Key: keys.tenant('acme'), UpdateExpression: 'SET clientId = :gone', ExpressionAttributeValues: { ':gone': 'client-deleted-at-provider' } }));
    await moveToBeforeExpiry(-1, 'alice');
    const requestsBefore = h.sim.stats.tokenRequests.length;

    const alice = await token('alice');
    const bob = await token('bob');

    expect([alice.status, bob.status]).toEqual([502, 502]);
    expect(alice.body.error).toBe('invalid_client');
    expect(alice.body.error_description).toContain('DELETE /v1/tenants/acme');
    // one refused call; bob's refresh is answered from the mark, without the provider
    expect(h.sim.stats.tokenRequests.length - requestsBefore).toBe(1);
    const failed = h.events.filter((e) => e.type === 'TokenRefreshFailed');
    expect(failed.map((e) => e.detail.account)).toEqual(['alice', 'bob']);
    expect(failed.every((e) => e.detail.reason === 'invalid_client' && String(e.detail.action).includes('client-deleted-at-provider'))).toBe(true);
    expect(h.events.filter((e) => e.type === 'TenantNeedsOperator')).toEqual([
      { type: 'TenantNeedsOperator', detail: expect.objectContaining({ tenant: 'acme', reason: 'invalid_client', client_id: 'client-deleted-at-provider' }) },
    ]);
    expect(logEvents().filter((l) => l.event === 'refresh.failed').every((l) => 'action' in l)).toBe(true);
    for (const account of ['alice', 'bob']) {
      const rec = await getAccount(h.db, 'acme', account);
      expect(rec).toMatchObject({ status: 'linked', lastError: 'invalid_client' });
      expect(rec!.dueAt).toBeGreaterThanOrEqual(Math.floor(h.clock() / 1000) + 3600);
    }
  });
});
