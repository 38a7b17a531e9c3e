import { BatchWriteCommand, PutCommand, ScanCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import { AuditLog } from '../lib/broker/audit-trail.js';
import { keyFingerprint } from '../lib/broker/callers.js';
import { TokenReadCounts } from '../lib/broker/read-counts.js';
import { silentLogger } from '../lib/log.js';
import { EXPOSURE_WRITE } from '../lib/retry.js';
import { getAccount } from '../lib/store/accounts.js';
import { auditItem, listAudit, putAuditItems, type AuditEvent, type AuditItem, type Trail } from '../lib/store/audit.js';
import { callerDigest, tokenFingerprint } from '../lib/store/exposures.js';
import type { AccountTokens } from '../lib/store/records.js';
import { AUDIT_SHARDS, keys } from '../lib/store/schema.js';
import { getTenant } from '../lib/store/tenants.js';
import type { Db } from '../lib/store/table.js';
import { anotherInstance } from './support/another-instance.js';
import { api, linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';
import { recordStoreCalls } from './support/store-calls.js';

const SERVICE_KEY = 'service-key-of-acme-0123456789abcdef';
const OTHER_KEY = 'service-key-of-beta-0123456789abcdef';
const API_KEYS = JSON.stringify({ [SERVICE_KEY]: { tenants: ['acme'], role: 'service' }, [OTHER_KEY]: { tenants: ['beta'], role: 'service' } });
const service = (key: string) => ({ authorization: `Bearer ${key}` });
const SERVICE_ID = `key:${keyFingerprint(SERVICE_KEY)}`;
const TOKEN_PATH = '/v1/tenants/acme/accounts/alice/token';

let h: Harness;
afterEach(async () => h?.close());

interface Trail_ {
  events: AuditEvent[];
  next?: string;
}

async function trail(h: Harness, query = '', tenant = 'acme'): Promise<Trail_> {
  const res = await api(h, 'GET', `/v1/tenants/${tenant}/audit${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Trail_;
}

async function tokenOf(h: Harness, headers?: Record<string, string>, path = TOKEN_PATH): Promise<{ status: number; access_token?: string }> {
  const res = await api(h, 'GET', path, undefined, headers);
  return { status: res.status, ...((await res.json()) as { access_token?: string }) };
}

/**
 * The broker's clock moves 1 ms at every reading, so each audit record of a request has its own
 * time (records written in the same millisecond have no defined order in the trail).
 */
function tickingClock(h: Harness): void {
  h.deps.clock = () => {
    h.clock.advance(1);
    return h.clock();
  };
}

/** Every write of an audit item (event or exposure marker) fails, as an unavailable trail would; the rest of the table works. */
function failAuditWrites(db: Db): () => void {
  const send = db.doc.send.bind(db.doc) as (command: unknown) => Promise<unknown>;
  const isAudit = (item: unknown) => String((item as { pk?: unknown } | undefined)?.pk ?? '').startsWith('AUDIT#');
  (db.doc as unknown as { send: (command: unknown) => Promise<unknown> }).send = (command) => {
    const auditPut = command instanceof PutCommand && isAudit(command.input.Item);
    const auditBatch = command instanceof BatchWriteCommand && Object.values(command.input.RequestItems ?? {}).some((requests) => requests.some((r) => isAudit(r.PutRequest?.Item)));
    const auditTransaction = command instanceof TransactWriteCommand && (command.input.TransactItems ?? []).some((t) => isAudit(t.Put?.Item));
    if (auditPut || auditBatch || auditTransaction) return Promise.reject(new Error('injected: audit write failed'));
    return send(command);
  };
  return () => void ((db.doc as unknown as { send: unknown }).send = send);
}

async function openTokens(h: Harness, tenant: string, account: string): Promise<AccountTokens> {
  const rec = (await getAccount(h.db, tenant, account))!;
  return h.deps.cipher.open<AccountTokens>(rec.sealedTokens, accountTokensContext(tenant, account));
}

/** Every item of the table whose key starts with `prefix`. */
async function itemsUnder(db: Db, prefix: string): Promise<Record<string, unknown>[]> {
  const out = await db.doc.send(new ScanCommand({ TableName: db.table, ConsistentRead: true }));
  return (out.Items ?? []).filter((i) => String(i.pk).startsWith(prefix));
}

/** Another broker instance on the harness's table and key: its token reads. */
function secondInstance(h: Harness) {
  const other = anotherInstance(h, { masterKey: h.masterKey, env: { BROKER_API_KEYS: API_KEYS } });
  const read = async (headers: Record<string, string>) => {
    const res = await other.request('GET', TOKEN_PATH, headers);
    return { status: res.status, ...((await res.json()) as { access_token?: string }) };
  };
  return { ...other, read };
}

const row = (e: AuditEvent) => [e.action, e.account ?? '-', e.caller, e.outcome, e.generation ?? '-', e.token_fingerprint ?? '-', e.count ?? '-'];

describe('the audit trail', () => {
  it('a full flow leaves one record per change, one token.read per caller and token, and the counts of repeat and failed reads, newest first, without token material', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    tickingClock(h);
    const secrets: string[] = [];
    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, 'acme', 'bob');
    secrets.push(...Object.values(await openTokens(h, 'acme', 'alice')), ...Object.values(await openTokens(h, 'acme', 'bob')));

    const reads = [await tokenOf(h, service(SERVICE_KEY)), await tokenOf(h, service(SERVICE_KEY)), await tokenOf(h, service(SERVICE_KEY))];
    const linked = (await getAccount(h.db, 'acme', 'alice'))!.generation;
    h.clock.advance(3601 * 1000);
    const refreshed = await tokenOf(h, service(SERVICE_KEY));
    secrets.push(...Object.values(await openTokens(h, 'acme', 'alice')));
    // bob's grant ends at the provider: his next refresh is refused
    const bobRefresh = (await openTokens(h, 'acme', 'bob')).refresh_token!;
    const clientId = (await getTenant(h.db, 'acme'))!.clientId;
    await fetch(`${h.sim.url}/oauth2/revoke`, { method: 'POST', body: new URLSearchParams({ token: bobRefresh, client_id: clientId }) });
    const bob = await tokenOf(h, service(SERVICE_KEY), '/v1/tenants/acme/accounts/bob/token');
    const denied = await tokenOf(h, service(OTHER_KEY));
    await h.deps.readCounts.flush();
    expect((await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice')).status).toBe(204);
    expect((await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', scope: '3 4' })).status).toBe(200);
    expect((await api(h, 'DELETE', '/v1/tenants/acme')).status).toBe(204);

    const { events } = await trail(h, '?limit=200');
    expect([...reads.map((r) => r.status), refreshed.status, bob.status, denied.status]).toEqual([200, 200, 200, 200, 409, 403]);
    const [first, second] = [tokenFingerprint(reads[0]!.access_token!), tokenFingerprint(refreshed.access_token!)];
    expect(events.map(row).reverse()).toEqual([
      ['tenant.register', '-', 'admin', 'registered', '-', '-', '-'],
      ['link.create', 'alice', 'admin', 'created', '-', '-', '-'],
      ['link.complete', 'alice', 'admin', 'linked', '-', '-', '-'],
      ['link.create', 'bob', 'admin', 'created', '-', '-', '-'],
      ['link.complete', 'bob', 'admin', 'linked', '-', '-', '-'],
      ['token.read', 'alice', SERVICE_ID, 'ok', linked, first, '-'],
      ['token.reads', 'alice', SERVICE_ID, 'ok', linked, '-', 2],
      ['token.refresh', 'alice', SERVICE_ID, 'refreshed', '-', '-', '-'],
      ['token.read', 'alice', SERVICE_ID, 'refreshed', linked + 1, second, '-'],
      ['account.reauth', 'bob', SERVICE_ID, 'invalid_grant', '-', '-', '-'],
      ['token.reads', 'bob', SERVICE_ID, 'failed:reauth_required', '-', '-', 1],
      ['access.denied', 'alice', `key:${keyFingerprint(OTHER_KEY)}`, 'forbidden:GET /v1/tenants/{tenant}/accounts/{account}/token', '-', '-', '-'],
      ['account.unlink', 'alice', 'admin', 'revoked', '-', '-', '-'],
      ['tenant.update', '-', 'admin', 'updated', '-', '-', '-'],
      ['tenant.delete', '-', 'admin', 'started', '-', '-', '-'],
      ['account.unlink', 'bob', 'admin', 'revoked', '-', '-', '-'],
      ['tenant.delete', '-', 'admin', 'deleted', '-', '-', '-'],
    ]);
    const times = events.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const text = JSON.stringify(events);
    for (const secret of [...secrets, SERVICE_KEY, OTHER_KEY]) expect(text).not.toContain(secret);
  });

  it('exactly one token.read per (caller, token), however many reads run at once; every other read is counted', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await linkAccount(h, 'acme', 'alice');

    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => tokenOf(h, i % 2 ? service(SERVICE_KEY) : undefined)));
    await h.deps.readCounts.flush();

    expect(answers.every((a) => a.status === 200)).toBe(true);
    const { events } = await trail(h, '?account=alice&limit=200');
    const reads = events.filter((e) => e.action === 'token.read');
    expect(reads.map((e) => e.caller).sort()).toEqual(['admin', SERVICE_ID].sort());
    const counted = (caller: string) => events.filter((e) => e.action === 'token.reads' && e.caller === caller).reduce((n, e) => n + e.count!, 0);
    expect([counted('admin'), counted(SERVICE_ID)]).toEqual([19, 19]);
  });

  it('an instance that reads the account learns from its exposure hint that the caller has its token.read, and writes nothing', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await linkAccount(h, 'acme', 'alice');
    expect((await tokenOf(h, service(SERVICE_KEY))).status).toBe(200);
    const other = secondInstance(h);
    const calls = recordStoreCalls(other.db);

    const res = await other.read(service(SERVICE_KEY));

    expect(res.status).toBe(200);
    expect(calls.names()).toEqual(['GetItem']);
    expect((await trail(h, '?account=alice')).events.filter((e) => e.action === 'token.read')).toHaveLength(1);
  });

  it('exactly one token.read per (caller, token): without the hint, the exposure marker still refuses a second one', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await linkAccount(h, 'acme', 'alice');
    expect((await tokenOf(h, service(SERVICE_KEY))).status).toBe(200);
    await h.db.doc.send(new UpdateCommand({ TableName: h.db.table, Key: keys.account('acme', 'alice'), UpdateExpression: 'REMOVE exposedToken, exposedTo' }));
    const other = secondInstance(h);
    const calls = recordStoreCalls(other.db);

    const res = await other.read(service(SERVICE_KEY));

    expect(res.status).toBe(200);
    expect(calls.names()).toContain('TransactWriteItems');
    expect(calls.auditWrites()).toBeGreaterThan(0);
    expect((await trail(h, '?account=alice')).events.filter((e) => e.action === 'token.read')).toHaveLength(1);
    const markers = await itemsUnder(h.db, `AUDIT#acme#token#${tokenFingerprint(res.access_token!)}`);
    expect(markers.map((m) => m.sk)).toEqual([`caller#${callerDigest(SERVICE_ID)}`]);
  });

  it('a request for a tenant that was never registered creates no trail', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await linkAccount(h, 'acme', 'alice');

    const failed = await Promise.all([tokenOf(h, undefined, '/v1/tenants/ghost/accounts/alice/token'), tokenOf(h, undefined, '/v1/tenants/ghost/accounts/bob/token')]);
    const denied = await tokenOf(h, service(SERVICE_KEY), '/v1/tenants/ghost/accounts/alice/token');
    await h.deps.readCounts.flush();

    expect([...failed.map((f) => f.status), denied.status]).toEqual([404, 404, 403]);
    expect(await itemsUnder(h.db, 'AUDIT#ghost')).toEqual([]);
    expect((await trail(h, '', 'ghost')).events).toEqual([]);
    expect(h.logs.filter((l) => l.includes('"event":"audit.no_trail"') && l.includes('"tenant":"ghost"'))).toHaveLength(1);
    expect(h.logs.filter((l) => l.includes('"event":"audit.counts_dropped"') && l.includes('"reason":"not_registered"'))).toHaveLength(2);
  });

  it('a tenant deleted and registered again starts a new trail; the old one is not readable through the new tenant', async () => {
    h = await startHarness();
    tickingClock(h);
    await linkAccount(h, 'acme', 'alice');
    const old = await tokenOf(h);
    expect((await api(h, 'DELETE', '/v1/tenants/acme')).status).toBe(204);
    const whileDeleted = await trail(h);
    const oldCursor = (await trail(h, '?limit=1')).next!;

    expect((await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' })).status).toBe(201);
    const fresh = await trail(h);
    const byAccount = await trail(h, '?account=alice');
    const byToken = await trail(h, `?token_fingerprint=${tokenFingerprint(old.access_token!)}`);
    const olderPages = await trail(h, `?cursor=${encodeURIComponent(oldCursor)}`);

    // until the id is registered again, the deleted tenant's trail is read (until its TTL)
    expect(whileDeleted.events.map((e) => e.action)).toEqual(expect.arrayContaining(['tenant.delete', 'account.unlink', 'token.read', 'tenant.register']));
    expect(fresh.events.map((e) => [e.action, e.outcome])).toEqual([['tenant.register', 'registered']]);
    expect([byAccount.events, byToken.events, olderPages.events]).toEqual([[], [], []]);
  });

  it('a count lands in the trail of the incarnation that existed when its reads began', async () => {
    h = await startHarness();
    tickingClock(h);
    await linkAccount(h, 'acme', 'alice');
    for (let i = 0; i < 3; i++) expect((await tokenOf(h)).status).toBe(200);
    expect((await api(h, 'DELETE', '/v1/tenants/acme')).status).toBe(204);
    expect((await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' })).status).toBe(201);

    await h.deps.readCounts.flush();

    expect((await trail(h)).events.map((e) => e.action)).toEqual(['tenant.register']);
    expect(h.logs.filter((l) => l.includes('"event":"audit.counts_dropped"') && l.includes('"reason":"before_incarnation"'))).toHaveLength(1);
  });

  it('failed reads are counted the same way, with outcome failed:<code>', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');

    const answers = await Promise.all(Array.from({ length: 3 }, () => tokenOf(h, undefined, '/v1/tenants/acme/accounts/carol/token')));
    await h.deps.readCounts.flush();

    expect(answers.map((a) => a.status)).toEqual([404, 404, 404]);
    expect((await trail(h, '?account=carol')).events).toEqual([expect.objectContaining({ action: 'token.reads', caller: 'admin', outcome: 'failed:not_found', count: 3 })]);
  });

  it('counts are written in the background of a read once the oldest is 30 s old, and never delay its answer', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    let t = 0;
    h.deps.readCounts = new TokenReadCounts(h.deps, { monotonic: () => t });
    for (let i = 0; i < 3; i++) expect((await tokenOf(h)).status).toBe(200);
    // the trail's writes hang until released
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const send = h.db.doc.send.bind(h.db.doc) as (command: unknown) => Promise<unknown>;
    (h.db.doc as unknown as { send: (command: unknown) => Promise<unknown> }).send = async (command) => {
      if (command instanceof PutCommand && String(command.input.Item?.pk).startsWith('AUDIT#')) await released;
      return send(command);
    };
    t += 30_000;

    const answered = await tokenOf(h);
    const beforeRelease = (await trail(h, '?account=alice')).events.filter((e) => e.action === 'token.reads');
    release();

    expect(answered.status).toBe(200);
    expect(beforeRelease).toEqual([]);
    await expect.poll(async () => (await trail(h, '?account=alice')).events.filter((e) => e.action === 'token.reads').map((e) => e.count)).toEqual([2]);
    expect(h.deps.readCounts.pending).toBe(1);
  });

  it('with the audit write failing, a first read of a token is not answered (5xx): no token without its token.read', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const { access_token } = await openTokens(h, 'acme', 'alice');
    failAuditWrites(h.db);

    const res = await api(h, 'GET', TOKEN_PATH);

    const text = await res.text();
    expect(res.status).toBe(500);
    expect(JSON.parse(text)).toMatchObject({ error: 'server_error' });
    expect(text).not.toContain(access_token);
    expect(h.logs.some((l) => l.includes('"event":"request.failed"') && l.includes('injected: audit write failed'))).toBe(true);
  });

  it('a first read whose token.read keeps colliding with other transactions is a 503 with Retry-After, without the token; the next read records it and is served', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const { access_token } = await openTokens(h, 'acme', 'alice');
    let collided = 0;
    h.db.doc.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'TransactWriteItemsCommand') return next(args);
        collided += 1;
        throw new TransactionCanceledException({ message: 'Transaction cancelled', $metadata: {}, CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }, { Code: 'None' }] });
      },
      { step: 'build', name: 'collide' },
    );

    const res = await api(h, 'GET', TOKEN_PATH);

    const text = await res.text();
    expect({ status: res.status, retryAfter: res.headers.get('retry-after'), error: JSON.parse(text).error }).toEqual({ status: 503, retryAfter: '1', error: 'temporarily_unavailable' });
    expect(text).not.toContain(access_token);
    expect(collided).toBe(EXPOSURE_WRITE.maxAttempts);
    h.db.doc.middlewareStack.remove('collide');
    const again = await api(h, 'GET', TOKEN_PATH);
    expect(again.status).toBe(200);
    expect((await trail(h)).events.filter((e) => e.action === 'token.read')).toHaveLength(1);
  });

  it('with the audit write failing, a caller whose token.read exists is still served from the cache; its count is written once the trail is back', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await linkAccount(h, 'acme', 'alice');
    const first = await tokenOf(h);
    const heal = failAuditWrites(h.db);

    const again = await tokenOf(h);
    const otherCaller = await api(h, 'GET', TOKEN_PATH, undefined, service(SERVICE_KEY));
    await h.deps.readCounts.flush();
    heal();
    await h.deps.readCounts.flush();

    expect(again).toEqual(first);
    // a caller without its token.read is not served
    expect(otherCaller.status).toBe(500);
    const counts = (await trail(h, '?account=alice')).events.filter((e) => e.action === 'token.reads');
    expect(counts.map((e) => [e.caller, e.outcome, e.count]).sort()).toEqual([
      ['admin', 'ok', 1],
      [SERVICE_ID, 'failed:server_error', 1],
    ]);
  });

  it('with the audit write failing, a link URL is not handed out', async () => {
    h = await startHarness();
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });
    failAuditWrites(h.db);

    const res = await api(h, 'POST', '/v1/tenants/acme/accounts/alice/link', {});

    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('link_url');
  });

  it('records are kept for BROKER_AUDIT_DAYS through the table TTL', async () => {
    h = await startHarness({ env: { BROKER_AUDIT_DAYS: '7' } });

    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });

    const [record] = await itemsUnder(h.db, 'AUDIT#acme#');
    expect(record!.ttl).toBe(Math.ceil(Date.parse(record!.at as string) / 1000) + 7 * 86_400);
  });
});

describe('GET /v1/tenants/{tenant}/audit', () => {
  it('pages through the trail newest first with limit and next', async () => {
    h = await startHarness();
    tickingClock(h);
    for (const account of ['alice', 'bob']) await linkAccount(h, 'acme', account);
    const all = (await trail(h)).events;

    const first = await trail(h, '?limit=2');
    const second = await trail(h, `?limit=2&cursor=${encodeURIComponent(first.next!)}`);
    const rest = await trail(h, `?limit=200&cursor=${encodeURIComponent(second.next!)}`);

    expect(all.map((e) => e.action)).toEqual(['link.complete', 'link.create', 'link.complete', 'link.create', 'tenant.register']);
    expect(first.events).toEqual(all.slice(0, 2));
    expect(second.events).toEqual(all.slice(2, 4));
    expect(rest.events).toEqual(all.slice(4));
    expect(rest.next).toBeUndefined();
  });

  it('filters by account, by since and by token_fingerprint, alone and together', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await linkAccount(h, 'acme', 'alice');
    h.clock.advance(60_000);
    const since = new Date(h.clock()).toISOString();
    await linkAccount(h, 'acme', 'bob');
    const alice = (await tokenOf(h, service(SERVICE_KEY))).access_token!;
    await tokenOf(h);
    await tokenOf(h, service(SERVICE_KEY), '/v1/tenants/acme/accounts/bob/token');
    const fingerprint = tokenFingerprint(alice);

    const byAccount = await trail(h, '?account=alice');
    const recent = await trail(h, `?since=${encodeURIComponent(since)}`);
    const recentWithOffset = await trail(h, `?since=${encodeURIComponent(since.replace('Z', '+00:00'))}`);
    const byToken = await trail(h, `?token_fingerprint=${fingerprint}`);
    const byTokenAndAccount = await trail(h, `?token_fingerprint=${fingerprint}&account=alice`);
    const byTokenOfAnotherAccount = await trail(h, `?token_fingerprint=${fingerprint}&account=bob`);
    const byAccountSince = await trail(h, `?account=alice&since=${encodeURIComponent(since)}`);

    expect(byAccount.events.map((e) => e.action)).toEqual(['token.read', 'token.read', 'link.complete', 'link.create']);
    expect(recent.events.every((e) => Date.parse(e.at) >= Date.parse(since))).toBe(true);
    expect(recent.events.map((e) => e.account)).toEqual(['bob', 'alice', 'alice', 'bob', 'bob']);
    expect(recentWithOffset.events).toEqual(recent.events);
    // every caller that received the token, and nothing else
    expect(byToken.events.map((e) => [e.action, e.caller, e.token_fingerprint])).toEqual([
      ['token.read', 'admin', fingerprint],
      ['token.read', SERVICE_ID, fingerprint],
    ]);
    expect(byTokenAndAccount.events).toEqual(byToken.events);
    expect(byTokenOfAnotherAccount.events).toEqual([]);
    expect(byAccountSince.events.map((e) => e.action)).toEqual(['token.read', 'token.read']);
  });

  it.each([
    ['since=yesterday', 'since'],
    ['cursor=TENANT%23acme', 'cursor'],
    ['account=..', 'account'],
    ['limit=500', 'limit'],
    ['token_fingerprint=not-hex', 'token_fingerprint'],
    ['token_fingerprint=0123456789ABCDEF', 'token_fingerprint'],
  ])('refuses a malformed query (%s) with 400', async (query, field) => {
    h = await startHarness();

    const res = await api(h, 'GET', `/v1/tenants/acme/audit?${query}`);

    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining(field) });
  });
});

describe('a trail that scales', () => {
  const EVENTS = 30_000;

  /**
   * A trail of `EVENTS` events, written straight into the table: one a minute apart; one in ten about
   * one of 20 accounts (token reads and counts), the rest tenant-level denials; one in a hundred a
   * `token.read` with its exposure marker.
   */
  async function seedTrail(h: Harness, trail: Trail): Promise<{ fingerprint: string; fingerprintAccount: string; firstAt: number }> {
    const firstAt = trail.incarnation + 1000;
    const items: AuditItem[] = [];
    let last = { fingerprint: '', fingerprintAccount: '' };
    for (let i = 0; i < EVENTS; i++) {
      const at = new Date(firstAt + i * 60).toISOString();
      const caller = `svc-${i % 7}`;
      let event: AuditEvent = { at, action: 'access.denied', caller, outcome: 'forbidden:GET /v1/tenants/{tenant}' };
      if (i % 10 === 0) {
        const account = `acct-${String((i / 10) % 20).padStart(3, '0')}`;
        event = i % 100 === 0 ? { at, action: 'token.read', account, caller, outcome: 'ok', generation: 1, token_fingerprint: tokenFingerprint(`token-${i}`) } : { at, action: 'token.reads', account, caller, outcome: 'ok', generation: 1, count: i };
      }
      const item = auditItem(trail, event, 90);
      items.push(item);
      if (event.token_fingerprint) {
        last = { fingerprint: event.token_fingerprint, fingerprintAccount: event.account! };
        items.push({ ...keys.exposure(trail.tenant, last.fingerprint, callerDigest(caller)), ...event, auditFilter: keys.auditByToken(trail.tenant, last.fingerprint), auditAt: item.sk, ttl: item.ttl });
      }
    }
    let next = 0;
    const writer = async () => {
      for (let start = next; start < items.length; start = next) {
        next += 25;
        await putAuditItems(h.db, items.slice(start, start + 25));
      }
    };
    await Promise.all(Array.from({ length: 4 }, writer));
    return { ...last, firstAt };
  }

  it('every page of GET …/audit costs a bounded number of store reads, whatever the filter, on a trail of 30,000 events', { timeout: 180_000 }, async () => {
    h = await startHarness();
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });
    const tenant = (await getTenant(h.db, 'acme'))!;
    const { fingerprint, fingerprintAccount, firstAt } = await seedTrail(h, { tenant: 'acme', incarnation: tenant.createdAt });
    const middle = encodeURIComponent(new Date(firstAt + (EVENTS / 2) * 60).toISOString());
    const calls = recordStoreCalls(h.db);

    const cases = {
      '?account=zz-none&limit=1': 1,
      '?limit=200': AUDIT_SHARDS,
      '?limit=50&account=acct-007': 1,
      [`?limit=50&since=${middle}`]: AUDIT_SHARDS,
      [`?limit=50&account=acct-007&since=${middle}`]: 1,
      [`?token_fingerprint=${fingerprint}`]: 1,
      [`?token_fingerprint=${fingerprint}&account=${fingerprintAccount}`]: 1,
      [`?token_fingerprint=${fingerprint}&account=acct-999`]: 1,
    };
    const costs: Record<string, { queries: number; gets: number; events: number }> = {};
    for (const [query, _] of Object.entries(cases)) {
      calls.reset();
      const page = await trail(h, query);
      // the next page of the same query costs the same
      if (page.next) await trail(h, `${query}&cursor=${encodeURIComponent(page.next)}`);
      const queries = calls.names().filter((n) => n === 'Query').length;
      costs[query] = { queries: page.next ? queries / 2 : queries, gets: calls.names().filter((n) => n === 'GetItem').length, events: page.events.length };
    }

    // one GetItem per page (the tenant's incarnation), then the Queries of its filter
    expect(Object.fromEntries(Object.entries(costs).map(([q, c]) => [q, c.queries]))).toEqual(cases);
    expect(Object.values(costs).every((c) => c.gets <= 2)).toBe(true);
    expect(costs['?limit=200']!.events).toBe(200);
    expect(costs['?limit=50&account=acct-007']!.events).toBe(50);
    expect(costs[`?token_fingerprint=${fingerprint}`]!.events).toBe(1);
    expect(costs[`?token_fingerprint=${fingerprint}&account=${fingerprintAccount}`]!.events).toBe(1);
    expect(costs[`?token_fingerprint=${fingerprint}&account=acct-999`]!.events).toBe(0);
  });

  it('an unfiltered page merges the shards newest first: pages in a row hold every event once, in order', async () => {
    h = await startHarness();
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });
    const tenant = (await getTenant(h.db, 'acme'))!;
    const trailOfAcme = { tenant: 'acme', incarnation: tenant.createdAt };
    const items = Array.from({ length: 300 }, (_, i) => auditItem(trailOfAcme, { at: new Date(tenant.createdAt + 1000 + i * 7).toISOString(), action: 'tenant.update', caller: `c${i}`, outcome: 'updated' }, 90));
    for (let i = 0; i < items.length; i += 25) await putAuditItems(h.db, items.slice(i, i + 25));
    const shardsUsed = new Set(items.map((i) => i.pk));

    const seen: AuditEvent[] = [];
    let cursor: string | undefined;
    do {
      const page = await listAudit(h.db, 'acme', { limit: 37, cursor });
      seen.push(...page.events);
      cursor = page.next;
    } while (cursor);

    expect(shardsUsed.size).toBe(AUDIT_SHARDS);
    expect(seen.filter((e) => e.action === 'tenant.update').map((e) => e.caller)).toEqual(items.map((i) => i.caller).reverse());
    expect(seen.at(-1)!.action).toBe('tenant.register');
  });
});

describe('group commit of audit records', () => {
  const trailOfAcme = { tenant: 'acme', incarnation: 1 };
  const event = (i: number): AuditEvent => ({ at: new Date().toISOString(), action: 'tenant.update', caller: 'svc', outcome: 'ok', account: `a${i}` });

  it('concurrent events are each stored before their writer is answered, in batches, and none is lost', async () => {
    h = await startHarness();
    const log = new AuditLog(h.db, 90, silentLogger);
    const calls = recordStoreCalls(h.db);

    await Promise.all(Array.from({ length: 60 }, (_, i) => log.append(trailOfAcme, event(i))));

    expect(calls.names()).toContain('BatchWriteItem');
    expect(calls.names().length).toBeLessThan(60);
    expect((await listAudit(h.db, 'acme', { limit: 200, incarnation: 1 })).events).toHaveLength(60);
  });

  it('records DynamoDB leaves unprocessed in a batch are sent again until every one is stored', async () => {
    h = await startHarness();
    const sent: number[] = [];
    const send = h.db.doc.send.bind(h.db.doc) as (command: unknown) => Promise<unknown>;
    (h.db.doc as unknown as { send: (command: unknown) => Promise<unknown> }).send = async (command) => {
      if (!(command instanceof BatchWriteCommand)) return send(command);
      const requests = command.input.RequestItems![h.db.table]!;
      sent.push(requests.length);
      // as a throttled table does: the first two batches store only their first half
      if (sent.length > 2) return send(command);
      const half = Math.ceil(requests.length / 2);
      await send(new BatchWriteCommand({ RequestItems: { [h.db.table]: requests.slice(0, half) } }));
      return { UnprocessedItems: { [h.db.table]: requests.slice(half) } };
    };

    await putAuditItems(
      h.db,
      Array.from({ length: 20 }, (_, i) => auditItem(trailOfAcme, event(i), 90)),
    );

    expect(sent).toEqual([20, 10, 5]);
    expect((await listAudit(h.db, 'acme', { limit: 50, incarnation: 1 })).events).toHaveLength(20);
  });

  it('when a batched audit write fails, every writer of that batch fails', async () => {
    h = await startHarness();
    const log = new AuditLog(h.db, 90, silentLogger);
    failAuditWrites(h.db);

    const outcomes = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => log.append(trailOfAcme, event(i))));

    expect(outcomes.map((o) => o.status)).toEqual(Array.from({ length: 30 }, () => 'rejected'));
  });
});

describe('audit writes in AWS mode', () => {
  it('never batch: every record is its own PutItem, so no function needs BatchWriteItem (which would also allow deletes)', async () => {
    h = await startHarness();
    const log = new AuditLog(h.db, 90, silentLogger, Number.POSITIVE_INFINITY);
    const calls = recordStoreCalls(h.db);

    await Promise.all(Array.from({ length: 20 }, (_, i) => log.append({ tenant: 'acme', incarnation: 1 }, { at: new Date().toISOString(), action: 'tenant.update', caller: 'svc', outcome: 'ok', account: `a${i}` })));

    expect(calls.names()).toEqual(Array.from({ length: 20 }, () => 'PutItem'));
  });
});
