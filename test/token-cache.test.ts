import { randomBytes } from 'node:crypto';
import { FORCED_REFRESH_FLOOR_MS } from '../lib/broker/refresh.js';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenCache, type CachedToken } from '../lib/broker/token-cache.js';
import { localDataKeys } from '../lib/crypto/local-keys.js';
import { createDb } from '../lib/store/table.js';
import { startTcpFaultProxy, type TcpFaultProxy } from '../chaos/tcp-proxy.js';
import { dynamoEndpoint, freshTable } from './support/dynamo.js';
import { anotherInstance } from './support/another-instance.js';
import { countingKeys } from './support/counting-keys.js';
import { api, linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';
import { recordStoreCalls } from './support/store-calls.js';

const record = (over: Partial<{ expiresAt: number; generation: number; linkedAt: number }> = {}) => ({
  tenant: 't',
  account: 'a',
  expiresAt: 10_000_000,
  scope: '3',
  generation: 1,
  linkedAt: 1,
  ...over,
});

/** A monotonic clock the test moves. */
function monotonic() {
  let t = 1_000;
  return Object.assign(() => t, { advance: (ms: number) => void (t += ms) });
}

describe('TokenCache', () => {
  it('an entry is served only while it has at least min_ttl left', () => {
    const cache = new TokenCache();
    cache.remember(record({ expiresAt: 100_000 }), 'at');

    expect(cache.lookup('t/a', 30_000, 60_000)).toBeDefined();
    expect(cache.lookup('t/a', 40_001, 60_000)).toBeUndefined();
  });

  it('cache ages use a monotonic clock, never the wall clock', () => {
    const mono = monotonic();
    const cache = new TokenCache({ monotonic: mono });
    cache.remember(record({ expiresAt: 10_000_000_000 }), 'at');

    // the wall clock jumps a day ahead (still within the token's life): the entry is as fresh as it was
    const afterWallJump = cache.lookup('t/a', 86_400_000, 0)?.state;
    mono.advance(29_999);
    const justBefore = cache.lookup('t/a', 0, 0)?.state;
    mono.advance(1);
    const due = cache.lookup('t/a', 0, 0)?.state;

    expect([afterWallJump, justBefore, due]).toEqual(['fresh', 'fresh', 'due']);
  });

  it('an entry validated more than 30 s ago is revalidated by the next read, and a revalidation renews it', () => {
    const mono = monotonic();
    const cache = new TokenCache({ monotonic: mono });
    const entry = cache.remember(record(), 'at');
    mono.advance(30_000);

    const before = cache.lookup('t/a', 0, 0)!.state;
    cache.revalidated(entry, { generation: 1, linkedAt: 1, status: 'linked', hint: undefined });
    const after = cache.lookup('t/a', 0, 0)!.state;

    expect([before, after]).toEqual(['due', 'fresh']);
  });

  it('when revalidation cannot reach the store, the still-valid token keeps being served for a bounded time', () => {
    const mono = monotonic();
    const cache = new TokenCache({ monotonic: mono });
    const entry = cache.remember(record(), 'at');
    mono.advance(30_000);

    cache.revalidationFailed(entry);
    const meanwhile = cache.lookup('t/a', 0, 0)!.state;
    mono.advance(5_000);
    const retry = cache.lookup('t/a', 0, 0)!.state;
    mono.advance(300_000 - 35_000 - 1);
    const lastMoment = cache.mayServeStale(entry);
    mono.advance(1);

    expect([meanwhile, retry, lastMoment, cache.mayServeStale(entry)]).toEqual(['stale', 'due', true, false]);
  });

  it('the store confirms a token set by generation, link time and status', () => {
    const entry = new TokenCache().remember(record({ generation: 4, linkedAt: 7 }), 'at');

    const holds = (state: Partial<{ generation: number; linkedAt: number; status: 'linked' | 'needs_reauth' }>) =>
      TokenCache.holds({ generation: 4, linkedAt: 7, status: 'linked', hint: undefined, ...state }, entry);

    expect([holds({}), holds({ generation: 5 }), holds({ linkedAt: 8 }), holds({ status: 'needs_reauth' }), TokenCache.holds(undefined, entry)]).toEqual([true, false, false, false, false]);
  });

  it('is bounded: the least recently used entry is evicted first', () => {
    const cache = new TokenCache({ maxEntries: 2 });
    cache.remember(record({ account: '1' } as never), 'at');
    cache.remember(record({ account: '2' } as never), 'at');
    cache.lookup('t/1', 0, 0);

    cache.remember(record({ account: '3' } as never), 'at');

    expect(cache.lookup('t/1', 0, 0)).toBeDefined();
    expect(cache.lookup('t/2', 0, 0)).toBeUndefined();
    expect(cache.size).toBe(2);
  });

  it('reads in a row of one entry keep it the most recently used: the entries read before it go first', () => {
    const cache = new TokenCache({ maxEntries: 3 });
    for (const account of ['1', '2', '3']) cache.remember(record({ account } as never), 'at');
    for (const account of ['1', '2', '2', '1', '1']) cache.lookup(`t/${account}`, 0, 0);

    cache.remember(record({ account: '4' } as never), 'at');
    cache.remember(record({ account: '5' } as never), 'at');

    expect(['1', '2', '3', '4', '5'].map((account) => cache.lookup(`t/${account}`, 0, 0) !== undefined)).toEqual([true, false, false, true, true]);
  });

  it('never replaces a newer token set with an older one: a later link wins, then a higher generation', () => {
    const cache = new TokenCache();
    cache.remember(record({ generation: 3 }), 'gen3');
    cache.remember(record({ generation: 2 }), 'gen2');
    const afterOlderGeneration = cache.lookup('t/a', 0, 0)?.entry.accessToken;
    cache.remember(record({ generation: 1, linkedAt: 2 }), 'relinked');

    expect([afterOlderGeneration, cache.lookup('t/a', 0, 0)?.entry.accessToken]).toEqual(['gen3', 'relinked']);
  });
});

describe('token route: what a read costs (DynamoDB calls recorded on the client)', () => {
  let h: Harness;
  let proxy: TcpFaultProxy | undefined;
  const masterKey = randomBytes(32);
  let keys: ReturnType<typeof countingKeys>;
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
    await h?.close();
  });

  const token = async () => {
    const res = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');
    return { status: res.status, body: (await res.json()) as { access_token?: string; error?: string }, retryAfter: res.headers.get('retry-after') };
  };

  /** A second broker instance on the same table and key (another process, as far as the trail can tell). */
  const secondInstance = () => anotherInstance(h, { masterKey }).request;

  async function start(options: { db?: Harness['db'] } = {}) {
    keys = countingKeys(localDataKeys(masterKey));
    h = await startHarness({ keys: keys.provider, ...(options.db ? { db: options.db } : {}) });
    const mono = monotonic();
    h.deps.tokenCache = new TokenCache({ monotonic: mono });
    await linkAccount(h, 'acme', 'alice');
    const first = await token();
    expect(first.status).toBe(200);
    keys.reset();
    return { mono, first: first.body.access_token!, calls: recordStoreCalls(h.db) };
  }

  it('a cache hit does no I/O at all (no DynamoDB, no KMS, no audit write)', async () => {
    const { calls } = await start();

    const answers = await Promise.all(Array.from({ length: 20 }, token));

    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(calls.names()).toEqual([]);
    expect(keys.total()).toBe(0);
  });

  it('a cached token’s expires_in counts down from read to read, second by second, with expires_at unchanged', async () => {
    const { calls } = await start();
    const read = async (afterMs: number) => {
      h.clock.advance(afterMs);
      return (await (await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token')).json()) as { expires_in: number; expires_at: string };
    };

    const now = await read(0);
    const again = await read(0);
    const later = await read(1_000);
    const muchLater = await read(3_000);

    expect(again).toEqual(now);
    expect(later.expires_in).toBe(now.expires_in - 1);
    expect(muchLater.expires_in).toBe(now.expires_in - 4);
    expect(new Set([now, later, muchLater].map((t) => t.expires_at)).size).toBe(1);
    expect(calls.names()).toEqual([]);
  });

  it('revalidation of a cached entry reads only what it needs (a projection) and decrypts nothing while the token set is unchanged', async () => {
    const { mono, first, calls } = await start();
    mono.advance(30_000);

    const again = await token();

    expect(again.body.access_token).toBe(first);
    expect(calls.calls).toEqual([{ name: 'GetItem', input: expect.objectContaining({ ProjectionExpression: 'generation, linkedAt, #status, exposedToken, exposedTo' }) }]);
    expect(keys.total()).toBe(0);
  });

  it('a revalidation that finds a new generation (refreshed by another instance) reads it and decrypts it once', async () => {
    const { mono, first } = await start();
    const other = secondInstance();
    // past the 10 s in which forced refreshes coalesce
    h.clock.advance(FORCED_REFRESH_FLOOR_MS);
    const refreshed = (await (await other('POST', '/v1/tenants/acme/accounts/alice/refresh')).json()) as { access_token: string };
    const before = await token();
    mono.advance(30_000);
    const calls = recordStoreCalls(h.db);
    keys.reset();

    const after = await token();

    expect(before.body.access_token).toBe(first);
    expect(after.body.access_token).toBe(refreshed.access_token);
    expect(calls.names()).toEqual(['GetItem', 'GetItem']);
    expect(calls.calls[0]!.input.ProjectionExpression).toBeDefined();
    expect(calls.calls[1]!.input.ProjectionExpression).toBeUndefined();
    expect(keys.counts).toEqual({ generate: 0, decrypt: 1 });
  });

  it('an unlink on another instance stops being served within the revalidation bound (30 s)', async () => {
    const { mono } = await start();
    const other = secondInstance();
    expect((await other('DELETE', '/v1/tenants/acme/accounts/alice')).status).toBe(204);

    const withinBound = await token();
    mono.advance(30_000);
    const afterBound = await token();

    expect(withinBound.status).toBe(200);
    expect(afterBound).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });

  it('an unlink or re-link on this instance drops or replaces the entry at once', async () => {
    const { first } = await start();

    expect((await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice')).status).toBe(204);
    const afterUnlink = await token();
    await linkAccount(h, 'acme', 'alice');
    const afterRelink = await token();

    expect(afterUnlink.status).toBe(404);
    expect(afterRelink.status).toBe(200);
    expect(afterRelink.body.access_token).not.toBe(first);
  });

  it('a forced refresh on this instance replaces the cached token at once', async () => {
    const { first } = await start();
    // past the 10 s in which forced refreshes coalesce
    h.clock.advance(FORCED_REFRESH_FLOOR_MS);

    const forced = (await (await api(h, 'POST', '/v1/tenants/acme/accounts/alice/refresh')).json()) as { access_token: string };
    const after = await token();

    expect(forced.access_token).not.toBe(first);
    expect(after.body.access_token).toBe(forced.access_token);
  });

  it('while the store is unreachable, an already-exposed caller keeps being served its valid token for at most 5 minutes after the last validation', async () => {
    proxy = await startTcpFaultProxy(dynamoEndpoint());
    const table = await freshTable();
    const { mono, first } = await start({ db: createDb({ table: table.table, endpoint: proxy.url }) });
    await proxy.set('refuse');

    const fresh = await token();
    mono.advance(30_000);
    const revalidationFails = await token();
    mono.advance(1_000);
    const meanwhile = await token();
    mono.advance(300_000 - 31_000);
    const beyondBound = await token();
    await proxy.set('pass');
    mono.advance(5_000);
    const storeBack = await token();

    expect([fresh, revalidationFails, meanwhile].map((a) => [a.status, a.body.access_token])).toEqual([
      [200, first],
      [200, first],
      [200, first],
    ]);
    expect(beyondBound).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' } });
    expect(Number(beyondBound.retryAfter)).toBeGreaterThan(0);
    expect(storeBack).toMatchObject({ status: 200, body: { access_token: first } });
    expect(h.logs.filter((l) => l.includes('"event":"token.served_stale"'))).toHaveLength(1);
    const served = h.logs.map((l) => JSON.parse(l) as { event: string; status: number; cache?: string }).filter((l) => l.event === 'http.access' && l.status === 200);
    expect(served.slice(-4).map((l) => l.cache)).toEqual(['hit', 'stale', 'stale', 'hit']);
  });
});
