import { BatchWriteCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import { keyFingerprint } from '../lib/broker/callers.js';
import { getAccount } from '../lib/store/accounts.js';
import { appendAuditBatch, listAudit } from '../lib/store/audit.js';
import type { AccountTokens } from '../lib/store/records.js';
import { getTenant } from '../lib/store/tenants.js';
import type { Db } from '../lib/store/table.js';
import { api, linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';

const SERVICE_KEY = 'service-key-of-acme-0123456789abcdef';
const OTHER_KEY = 'service-key-of-beta-0123456789abcdef';
const API_KEYS = JSON.stringify({ [SERVICE_KEY]: { tenants: ['acme'], role: 'service' }, [OTHER_KEY]: { tenants: ['beta'], role: 'service' } });
const service = (key: string) => ({ authorization: `Bearer ${key}` });

let h: Harness;
afterEach(async () => h?.close());

interface Trail {
  events: { at: string; action: string; account?: string; caller: string; outcome: string }[];
  next?: string;
}

async function trail(h: Harness, query = ''): Promise<Trail> {
  const res = await api(h, 'GET', `/v1/tenants/acme/audit${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Trail;
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

/** Makes every write of an audit record fail, as an unavailable audit table would. */
function failAuditWrites(db: Db): void {
  const send = db.doc.send.bind(db.doc) as (command: unknown) => Promise<unknown>;
  (db.doc as unknown as { send: (command: unknown) => Promise<unknown> }).send = (command) => {
    const auditPut = command instanceof PutCommand && String(command.input.Item?.pk).startsWith('AUDIT#');
    const auditBatch =
      command instanceof BatchWriteCommand &&
      Object.values(command.input.RequestItems ?? {}).some((requests) => requests.some((r) => String(r.PutRequest?.Item?.pk).startsWith('AUDIT#')));
    if (auditPut || auditBatch) return Promise.reject(new Error('injected: audit write failed'));
    return send(command);
  };
}

async function openTokens(h: Harness, tenant: string, account: string): Promise<AccountTokens> {
  const rec = (await getAccount(h.db, tenant, account))!;
  return h.deps.cipher.open<AccountTokens>(rec.sealedTokens, accountTokensContext(tenant, account));
}

describe('the audit trail', () => {
  it('a full flow leaves one record per link, token read, refresh, reauth, denial, unlink and tenant change, in order, without token material', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    tickingClock(h);
    const serviceId = `key:${keyFingerprint(SERVICE_KEY)}`;
    const secrets: string[] = [];

    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, 'acme', 'bob');
    secrets.push(...Object.values(await openTokens(h, 'acme', 'alice')), ...Object.values(await openTokens(h, 'acme', 'bob')));
    expect((await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token', undefined, service(SERVICE_KEY))).status).toBe(200);
    h.clock.advance(3601 * 1000);
    expect((await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token', undefined, service(SERVICE_KEY))).status).toBe(200);
    secrets.push(...Object.values(await openTokens(h, 'acme', 'alice')));
    // bob's grant ends at the provider: his next refresh is refused
    const bobRefresh = (await openTokens(h, 'acme', 'bob')).refresh_token!;
    const clientId = (await getTenant(h.db, 'acme'))!.clientId;
    await fetch(`${h.sim.url}/oauth2/revoke`, { method: 'POST', body: new URLSearchParams({ token: bobRefresh, client_id: clientId }) });
    expect((await api(h, 'GET', '/v1/tenants/acme/accounts/bob/token', undefined, service(SERVICE_KEY))).status).toBe(409);
    expect((await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token', undefined, service(OTHER_KEY))).status).toBe(403);
    expect((await api(h, 'DELETE', '/v1/tenants/acme/accounts/alice')).status).toBe(204);
    expect((await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', scope: '3 4' })).status).toBe(200);
    expect((await api(h, 'DELETE', '/v1/tenants/acme')).status).toBe(204);

    const { events } = await trail(h, '?limit=200');
    expect(events.map((e) => [e.action, e.account ?? '-', e.caller, e.outcome])).toEqual([
      ['tenant.register', '-', 'admin', 'registered'],
      ['link.create', 'alice', 'admin', 'created'],
      ['link.complete', 'alice', 'admin', 'linked'],
      ['link.create', 'bob', 'admin', 'created'],
      ['link.complete', 'bob', 'admin', 'linked'],
      ['token.read', 'alice', serviceId, 'ok'],
      ['token.refresh', 'alice', serviceId, 'refreshed'],
      ['token.read', 'alice', serviceId, 'refreshed'],
      ['account.reauth', 'bob', serviceId, 'invalid_grant'],
      ['token.read', 'bob', serviceId, 'failed:reauth_required'],
      ['access.denied', 'alice', `key:${keyFingerprint(OTHER_KEY)}`, 'forbidden:GET /v1/tenants/{tenant}/accounts/{account}/token'],
      ['account.unlink', 'alice', 'admin', 'revoked'],
      ['tenant.update', '-', 'admin', 'updated'],
      ['tenant.delete', '-', 'admin', 'started'],
      ['account.unlink', 'bob', 'admin', 'revoked'],
      ['tenant.delete', '-', 'admin', 'deleted'],
    ]);
    const times = events.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const text = JSON.stringify(events);
    for (const secret of [...secrets, SERVICE_KEY, OTHER_KEY]) expect(text).not.toContain(secret);
  });

  it('with the audit write failing, the token route fails (5xx) rather than answering unaudited', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const { access_token } = await openTokens(h, 'acme', 'alice');
    failAuditWrites(h.db);

    const res = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');

    const text = await res.text();
    expect(res.status).toBe(500);
    expect(JSON.parse(text)).toMatchObject({ error: 'server_error' });
    expect(text).not.toContain(access_token);
    expect(h.logs.some((l) => l.includes('"event":"request.failed"') && l.includes('injected: audit write failed'))).toBe(true);
  });

  it('with the audit write failing, a token already cached is not answered either', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const first = (await (await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token')).json()) as { access_token: string };
    failAuditWrites(h.db);

    const res = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');

    const text = await res.text();
    expect(res.status).toBe(500);
    expect(text).not.toContain(first.access_token);
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

    const scan = await h.db.doc.send(new ScanCommand({ TableName: h.db.table, ConsistentRead: true }));
    const record = scan.Items!.find((i) => i.pk === 'AUDIT#acme')!;
    expect(record.ttl).toBe(Math.ceil(Date.parse(record.at as string) / 1000) + 7 * 86_400);
  });
});

describe('GET /v1/tenants/{tenant}/audit', () => {
  it('pages through the trail with limit and next, oldest first', async () => {
    h = await startHarness();
    tickingClock(h);
    for (const account of ['alice', 'bob']) await linkAccount(h, 'acme', account);
    const all = (await trail(h)).events;

    const first = await trail(h, '?limit=2');
    const second = await trail(h, `?limit=2&cursor=${encodeURIComponent(first.next!)}`);
    const rest = await trail(h, `?limit=200&cursor=${encodeURIComponent(second.next!)}`);

    expect(all).toHaveLength(5);
    expect(first.events).toEqual(all.slice(0, 2));
    expect(second.events).toEqual(all.slice(2, 4));
    expect(rest.events).toEqual(all.slice(4));
    expect(rest.next).toBeUndefined();
  });

  it('filters by account and by since', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    h.clock.advance(60_000);
    const since = new Date(h.clock()).toISOString();
    await linkAccount(h, 'acme', 'bob');

    const alice = await trail(h, '?account=alice');
    const recent = await trail(h, `?since=${encodeURIComponent(since)}`);
    const recentWithOffset = await trail(h, `?since=${encodeURIComponent(since.replace('Z', '+00:00'))}`);

    expect(alice.events.map((e) => e.action).sort()).toEqual(['link.complete', 'link.create']);
    expect(alice.events.every((e) => e.account === 'alice')).toBe(true);
    expect(recent.events.map((e) => e.account).sort()).toEqual(['bob', 'bob']);
    expect(recentWithOffset.events).toEqual(recent.events);
  });

  it.each([
    ['since=yesterday', 'since'],
    ['cursor=TENANT%23acme', 'cursor'],
    ['account=..', 'account'],
    ['limit=500', 'limit'],
  ])('refuses a malformed query (%s) with 400', async (query, field) => {
    h = await startHarness();

    const res = await api(h, 'GET', `/v1/tenants/acme/audit?${query}`);

    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining(field) });
  });
});

describe('group commit of audit records', () => {
  it('concurrent token reads are each audited before their answer, in batches, and none is lost', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');
    let batches = 0;
    const send = h.db.doc.send.bind(h.db.doc) as (command: unknown) => Promise<unknown>;
    (h.db.doc as unknown as { send: (command: unknown) => Promise<unknown> }).send = (command) => {
      if (command instanceof BatchWriteCommand) batches += 1;
      return send(command);
    };

    const answers = await Promise.all(Array.from({ length: 60 }, () => api(h, 'GET', '/v1/tenants/acme/accounts/alice/token')));

    expect(answers.every((r) => r.status === 200)).toBe(true);
    const trail = await listAudit(h.db, 'acme', { limit: 200, account: 'alice' });
    expect(trail.events.filter((e) => e.action === 'token.read')).toHaveLength(61);
    expect(batches).toBeGreaterThan(0);
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
    const events = Array.from({ length: 20 }, (_, i) => ({ tenant: 'acme', event: { at: new Date().toISOString(), action: 'token.read' as const, caller: 'svc', outcome: 'ok', account: `a${i}` } }));

    await appendAuditBatch(h.db, events, 90);

    expect(sent).toEqual([20, 10, 5]);
    expect((await listAudit(h.db, 'acme', { limit: 50 })).events).toHaveLength(20);
  });

  it('when a batched audit write fails, every request of that batch fails and none is answered', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');
    failAuditWrites(h.db);

    const answers = await Promise.all(Array.from({ length: 30 }, () => api(h, 'GET', '/v1/tenants/acme/accounts/alice/token')));

    expect(answers.map((r) => r.status)).toEqual(Array.from({ length: 30 }, () => 500));
  });
});

describe('audit writes in AWS mode', () => {
  it('never batch: every record is its own PutItem, so no function needs BatchWriteItem (which would also allow deletes)', async () => {
    h = await startHarness();
    const { AuditLog } = await import('../lib/broker/audit-trail.js');
    const log = new AuditLog(h.db, 90, Number.POSITIVE_INFINITY);
    const commands: string[] = [];
    const send = h.db.doc.send.bind(h.db.doc) as (command: unknown) => Promise<unknown>;
    (h.db.doc as unknown as { send: (command: unknown) => Promise<unknown> }).send = (command) => {
      commands.push((command as object).constructor.name);
      return send(command);
    };

    await Promise.all(Array.from({ length: 20 }, (_, i) => log.append('acme', { at: new Date().toISOString(), action: 'token.read', caller: 'svc', outcome: 'ok', account: `a${i}` })));

    expect(commands).toEqual(Array.from({ length: 20 }, () => 'PutCommand'));
  });
});
