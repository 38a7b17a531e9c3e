import { FORCED_REFRESH_FLOOR_MS } from '../lib/broker/refresh.js';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenCache } from '../lib/broker/token-cache.js';
import { kmsDataKeys } from '../lib/crypto/kms-keys.js';
import { getAccount } from '../lib/store/accounts.js';
import { installFakeKms, type FakeKms } from './support/fake-kms.js';
import { api, linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';

const entry = (over: Partial<{ accessToken: string; expiresAt: number; generation: number; cachedAt: number }> = {}) => ({
  accessToken: 'at',
  expiresAt: 10_000_000,
  scope: '3',
  generation: 1,
  cachedAt: 0,
  ...over,
});

describe('TokenCache', () => {
  it('an entry is served only while it has at least min_ttl left', () => {
    const cache = new TokenCache();
    cache.set('a/b', entry({ expiresAt: 100_000, cachedAt: 25_000 }));

    expect(cache.get('a/b', 30_000, 60_000)).toBeDefined();
    expect(cache.get('a/b', 40_001, 60_000)).toBeUndefined();
  });

  it('an entry older than the maximum age is not served (bounded staleness across instances)', () => {
    const cache = new TokenCache(10, 30_000);
    cache.set('a/b', entry({ cachedAt: 0 }));

    expect(cache.get('a/b', 29_999, 0)).toBeDefined();
    expect(cache.get('a/b', 30_000, 0)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('is bounded: the least recently used entry is evicted first', () => {
    const cache = new TokenCache(2);
    cache.set('t/1', entry());
    cache.set('t/2', entry());
    cache.get('t/1', 0, 0);

    cache.set('t/3', entry());

    expect(cache.get('t/1', 0, 0)).toBeDefined();
    expect(cache.get('t/2', 0, 0)).toBeUndefined();
    expect(cache.size).toBe(2);
  });

  it('never replaces a newer generation with an older one', () => {
    const cache = new TokenCache();
    cache.set('t/1', entry({ accessToken: 'new', generation: 3 }));

    cache.set('t/1', entry({ accessToken: 'old', generation: 2 }));

    expect(cache.get('t/1', 0, 0)?.accessToken).toBe('new');
  });
});

describe('token route economy (KMS mocked with aws-sdk-client-mock)', () => {
  let h: Harness;
  let kms: FakeKms;
  afterEach(async () => {
    kms?.restore();
    await h?.close();
  });

  async function start() {
    kms = installFakeKms();
    const client = new KMSClient({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } });
    h = await startHarness({ keys: kmsDataKeys(client, kms.keyArn) });
    const reads = { getItem: 0 };
    h.db.doc.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetItemCommand') reads.getItem += 1;
        return next(args);
      },
      { step: 'initialize', name: 'countGetItem' },
    );
    await linkAccount(h, 'acme', 'alice');
    kms.clearCalls();
    reads.getItem = 0;
    return reads;
  }

  it('a cache miss costs one GetItem and one KMS Decrypt for the whole token set', async () => {
    const reads = await start();

    const res = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');

    expect(res.status).toBe(200);
    expect(reads.getItem).toBe(1);
    expect(kms.calls.map((c) => c.command)).toEqual(['Decrypt']);
    expect(kms.calls[0]!.encryptionContext).toEqual({ tenant: 'acme', account: 'alice', purpose: 'account-tokens' });
  });

  it('a cache hit costs no DynamoDB read and no KMS call', async () => {
    const reads = await start();
    await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');
    kms.clearCalls();
    reads.getItem = 0;

    const res = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');

    expect(res.status).toBe(200);
    expect(reads.getItem).toBe(0);
    expect(kms.calls).toEqual([]);
  });

  it('a refresh costs one GenerateDataKey (one encrypt) for the new token set, plus one Decrypt to read the refresh token', async () => {
    await start();
    const rec = await getAccount(h.db, 'acme', 'alice');
    h.clock.set(rec!.expiresAt - 5_000);
    kms.clearCalls();

    const res = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');

    expect(res.status).toBe(200);
    expect(kms.calls.map((c) => c.command).sort()).toEqual(['Decrypt', 'GenerateDataKey']);
    expect(kms.calls.every((c) => c.keyId === kms.keyArn)).toBe(true);
  });

  it('a forced refresh on this instance replaces the cached token at once', async () => {
    await start();
    const first = (await (await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token')).json()) as { access_token: string };
    // past the 10 s in which forced refreshes coalesce
    h.clock.advance(FORCED_REFRESH_FLOOR_MS);

    const forced = (await (await api(h, 'POST', '/v1/tenants/acme/accounts/alice/refresh')).json()) as { access_token: string };
    const after = (await (await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token')).json()) as { access_token: string };

    expect(forced.access_token).not.toBe(first.access_token);
    expect(after.access_token).toBe(forced.access_token);
  });
});
