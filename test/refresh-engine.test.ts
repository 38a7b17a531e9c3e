import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { runRefresher } from '../lib/broker/refresher.js';
import { BrokerError } from '../lib/errors.js';
import { getAccount, takeRefreshLease } from '../lib/store/accounts.js';
import { keys } from '../lib/store/schema.js';
import { api, linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
afterEach(async () => h?.close());

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

  it('a token refreshed moments ago is served to a min_ttl above the provider lifetime instead of refreshing on every call', async () => {
    h = await startHarness({ simulator: { accessTokenTtlS: 600 } });
    await linkAccount(h, 'acme', 'alice');
    await moveToBeforeExpiry(100);

    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await token('alice', '?min_ttl=900'));

    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
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
