import { ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import { FORCED_REFRESH_FLOOR_MS } from '../lib/broker/refresh.js';
import { runRefresher } from '../lib/broker/refresher.js';
import { JOB_REQUEST_BUDGET_MS } from '../lib/broker/tenant-jobs.js';
import { getAccount } from '../lib/store/accounts.js';
import { listPendingRevocations } from '../lib/store/revocations.js';
import { listAudit } from '../lib/store/audit.js';
import type { AccountTokens } from '../lib/store/records.js';
import { keys } from '../lib/store/schema.js';
import { getTenant } from '../lib/store/tenants.js';
import type { Db } from '../lib/store/table.js';
import { startLongPortSimulator, type LongPortSimulator } from '../simulator/longport-simulator.js';
import { api, linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';
import { seedLinkedAccounts } from './support/seed.js';
import { trailOldestFirst } from './support/trail.js';

let h: Harness;
let cnSim: LongPortSimulator | undefined;
afterEach(async () => {
  await h?.close();
  await cnSim?.close();
  cnSim = undefined;
});

/** Every item of the table, keys only: `pk sk`. */
async function tableKeys(db: Db): Promise<string[]> {
  const out: string[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.doc.send(new ScanCommand({ TableName: db.table, ExclusiveStartKey: start, ConsistentRead: true }));
    for (const item of page.Items ?? []) out.push(`${item.pk} ${item.sk}`);
    start = page.LastEvaluatedKey;
  } while (start);
  return out.sort();
}

/** As if the provider's `client_secret_expires_at` for the tenant's client had just passed. */
async function expireClientSecret(h: Harness, tenant: string): Promise<void> {
  await h.db.doc.send(
    new UpdateCommand({
      TableName: h.db.table,
      Key: keys.tenant(tenant),
      UpdateExpression: 'SET clientSecretExpiresAt = :past',
      ExpressionAttributeValues: { ':past': Math.floor(h.clock() / 1000) - 1 },
    }),
  );
}

async function storedRefreshToken(h: Harness, tenant: string, account: string): Promise<string> {
  const rec = (await getAccount(h.db, tenant, account))!;
  return (await h.deps.cipher.open<AccountTokens>(rec.sealedTokens, accountTokensContext(tenant, account))).refresh_token!;
}

describe('deleting a tenant', () => {
  it('tenant delete unlinks every account (revoking upstream), deletes the client (RFC 7592), and leaves no item of the tenant', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, 'acme', 'bob');
    await linkAccount(h, 'beta', 'alice');
    const acmeClient = (await getTenant(h.db, 'acme'))!.clientId;
    const refreshTokens = [await storedRefreshToken(h, 'acme', 'alice'), await storedRefreshToken(h, 'acme', 'bob')];
    const betaBefore = (await tableKeys(h.db)).filter((k) => k.startsWith('TENANT#beta '));

    const res = await api(h, 'DELETE', '/v1/tenants/acme');

    expect(res.status).toBe(204);
    const after = await tableKeys(h.db);
    expect(after.filter((k) => k.startsWith('TENANT#acme '))).toEqual([]);
    expect(after.filter((k) => k.startsWith('TENANT#beta '))).toEqual(betaBefore);
    expect(h.sim.stats.clientsDeleted).toEqual([acmeClient]);
    expect(h.sim.stats.revocations.sort()).toEqual(refreshTokens.sort());
    expect(h.deps.background.pending).toBe(0);
    expect(h.events.filter((e) => e.type === 'AccountUnlinked').map((e) => e.detail.account).sort()).toEqual(['alice', 'bob']);
    expect((await api(h, 'GET', '/v1/tenants/acme')).status).toBe(404);
    expect((await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token')).status).toBe(404);
    expect((await api(h, 'GET', '/v1/tenants/beta/accounts/alice/token')).status).toBe(200);
  });

  it('the audit trail outlives the deleted tenant (until its TTL) and records the deletion', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');

    await api(h, 'DELETE', '/v1/tenants/acme');
    const res = await api(h, 'GET', '/v1/tenants/acme/audit');

    expect(res.status).toBe(200);
    const { events } = (await res.json()) as { events: { action: string; outcome: string; account?: string }[] };
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'tenant.delete', outcome: 'started' }),
        expect.objectContaining({ action: 'account.unlink', account: 'alice', outcome: 'revoked' }),
        expect.objectContaining({ action: 'tenant.delete', outcome: 'deleted' }),
      ]),
    );
  });

  it('a tenant with an imported client (no registration_client_uri) is deleted without touching the client', async () => {
    h = await startHarness();
    const put = await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', client_id: 'lp_imported_client' });
    expect(put.status).toBe(201);

    const res = await api(h, 'DELETE', '/v1/tenants/acme');

    expect(res.status).toBe(204);
    expect(h.sim.stats.clientsDeleted).toEqual([]);
    expect((await tableKeys(h.db)).filter((k) => k.startsWith('TENANT#acme '))).toEqual([]);
    const trail = await trailOldestFirst(h.db, 'acme', { limit: 50 });
    expect(trail.filter((e) => e.action === 'tenant.delete').map((e) => e.outcome)).toEqual(['started', 'deleted:client_kept:no_registration_client_uri']);
  });

  it('a tenant can be registered again after deletion, with a new client', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const oldClient = (await getTenant(h.db, 'acme'))!.clientId;
    await api(h, 'DELETE', '/v1/tenants/acme');

    const again = await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });

    expect(again.status).toBe(201);
    expect(((await again.json()) as { client_id: string }).client_id).not.toBe(oldClient);
  });

  it('deleting a tenant that is not registered answers 404', async () => {
    h = await startHarness();

    const res = await api(h, 'DELETE', '/v1/tenants/nowhere');

    expect(res.status).toBe(404);
  });
});

describe('updating a tenant', () => {
  it('PUT on an existing tenant updates scope and return_to_origins in place, keeping its client, and is audited', async () => {
    h = await startHarness();
    const created = (await (await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' })).json()) as { client_id: string };

    const res = await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', scope: '3 4', return_to_origins: ['https://app.example.com'] });

    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ client_id: created.client_id, scope: '3 4', return_to_origins: ['https://app.example.com'] });
    expect(h.sim.stats.registrations).toBe(1);
    const trail = await listAudit(h.db, 'acme', { limit: 50 });
    expect(trail.events.filter((e) => e.action === 'tenant.update')).toEqual([expect.objectContaining({ outcome: 'updated', caller: 'admin' })]);
  });

  it('the tenant view never shows a secret', async () => {
    h = await startHarness({ simulator: { clientType: 'confidential' } });
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });
    const client = [...h.sim.clients.values()][0]!;

    const res = await api(h, 'GET', '/v1/tenants/acme');

    const text = await res.text();
    expect(res.status).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ client_id: client.client_id, client_type: 'confidential' });
    expect(text).not.toContain(client.client_secret!);
    expect(text).not.toContain(client.registration_access_token!);
  });

  it('a region change without "change_region": true is refused with 409 and changes nothing', async () => {
    cnSim = await startLongPortSimulator();
    h = await startHarness({ env: { LONGPORT_ISSUER_CN: cnSim.issuer } });
    await linkAccount(h, 'acme', 'alice');
    const before = await getTenant(h.db, 'acme');

    const res = await api(h, 'PUT', '/v1/tenants/acme', { region: 'cn' });

    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: 'conflict', error_description: expect.stringContaining('change_region') });
    expect(await getTenant(h.db, 'acme')).toEqual(before);
    expect((await getAccount(h.db, 'acme', 'alice'))?.status).toBe('linked');
    expect(cnSim.stats.registrations).toBe(0);
  });

  it('a region change with "change_region": true registers a client in the new region and marks linked accounts needs_reauth', async () => {
    cnSim = await startLongPortSimulator({ clock: () => h.clock() });
    h = await startHarness({ env: { LONGPORT_ISSUER_CN: cnSim.issuer } });
    await linkAccount(h, 'acme', 'alice');
    const oldClient = (await getTenant(h.db, 'acme'))!.clientId;
    const oldRefreshToken = await storedRefreshToken(h, 'acme', 'alice');
    expect((await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token')).status).toBe(200);

    const res = await api(h, 'PUT', '/v1/tenants/acme', { region: 'cn', change_region: true });

    expect(res.status).toBe(200);
    const view = (await res.json()) as { region: string; issuer: string; client_id: string };
    expect(view).toMatchObject({ region: 'cn', issuer: cnSim.issuer, state: 'active' });
    expect(cnSim.clients.has(view.client_id)).toBe(true);
    expect((await getAccount(h.db, 'acme', 'alice'))?.status).toBe('needs_reauth');
    const token = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');
    expect(token.status).toBe(409);
    expect(await token.json()).toMatchObject({ error: 'reauth_required' });
    // the old grant ends at the old issuer: its refresh token revoked, its client deleted
    expect(h.sim.stats.revocations).toEqual([oldRefreshToken]);
    expect(h.sim.stats.clientsDeleted).toEqual([oldClient]);
    expect(h.events.filter((e) => e.type === 'ReauthRequired')).toEqual([{ type: 'ReauthRequired', detail: { tenant: 'acme', account: 'alice', reason: 'region_changed' } }]);
  });

  it('after a region change the account links again with the new issuer and its tokens work', async () => {
    cnSim = await startLongPortSimulator({ clock: () => h.clock() });
    h = await startHarness({ env: { LONGPORT_ISSUER_CN: cnSim.issuer } });
    await linkAccount(h, 'acme', 'alice');
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'cn', change_region: true });

    const { callback } = await linkAccount(h, 'acme', 'alice', { register: { region: 'cn' } });

    expect(callback.status).toBe(200);
    expect(cnSim.stats.codeGrants).toBe(1);
    expect((await getAccount(h.db, 'acme', 'alice'))).toMatchObject({ status: 'linked', issuer: cnSim.issuer });
    const token = (await (await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token')).json()) as { access_token: string };
    const call = await fetch(`${cnSim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${token.access_token}` } });
    expect(call.status).toBe(200);
  });

});

describe('imported clients', () => {
  it("an imported client's secret is rotated by sending it again with the same client_id; refreshes then authenticate with the new secret", async () => {
    h = await startHarness();
    const redirectUri = `${h.deps.config.publicUrl}/oauth/callback`;
    h.sim.addClient({ client_id: 'imported-1', client_secret: 'first-secret-value', redirect_uris: [redirectUri], token_endpoint_auth_method: 'client_secret_post' });
    await linkAccount(h, 'acme', 'alice', { register: { client_id: 'imported-1', client_secret: 'first-secret-value', token_endpoint_auth_method: 'client_secret_post' } });
    // the operator rotates the secret at the provider, then at the broker
    h.sim.clients.get('imported-1')!.client_secret = 'second-secret-value';

    const put = await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', client_id: 'imported-1', client_secret: 'second-secret-value' });
    // past the floor under which forced refreshes coalesce
    h.clock.advance(FORCED_REFRESH_FLOOR_MS);
    const refresh = await api(h, 'POST', '/v1/tenants/acme/accounts/alice/refresh');

    expect(put.status).toBe(200);
    expect(await put.text()).not.toContain('second-secret-value');
    expect(refresh.status).toBe(200);
    expect(h.sim.stats.tokenRequests.at(-1)).toMatchObject({ grantType: 'refresh_token', authMethod: 'client_secret_post', status: 200 });
    const trail = await listAudit(h.db, 'acme', { limit: 50 });
    expect(trail.events.map((e) => e.outcome)).toContain('client_secret_rotated');
  });

  it('the secret of a client the broker registered itself cannot be set by hand', async () => {
    h = await startHarness({ simulator: { clientType: 'confidential' } });
    const created = (await (await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' })).json()) as { client_id: string };

    const put = await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', client_id: created.client_id, client_secret: 'made-up-secret-value' });

    expect(put.status).toBe(409);
  });
});

describe('client secrets: never a silent re-registration', () => {
  const refresh = (account = 'alice') => api(h, 'POST', `/v1/tenants/acme/accounts/${account}/refresh`);
  const outcomes = async () => (await trailOldestFirst(h.db, 'acme', { limit: 100 })).filter((e) => e.action === 'tenant.update').map((e) => e.outcome);

  it('an expired client secret is renewed through RFC 7592: the secret the provider rotated is stored, no client is registered, and linked accounts keep refreshing', async () => {
    h = await startHarness({ simulator: { clientType: 'confidential', clientSecretTtlS: 3600 } });
    await linkAccount(h, 'acme', 'alice');
    const before = (await getTenant(h.db, 'acme'))!;
    // the provider rotated the secret before it expired; the broker learns of it once the stored expiry passes
    h.clock.advance(3000_000);
    const rotated = h.sim.rotateClientSecret(before.clientId, { expiresInS: 7200, graceS: 600 });
    h.clock.set(before.clientSecretExpiresAt! * 1000 + 1000);

    const res = await refresh();

    expect(res.status).toBe(200);
    expect(h.sim.stats.registrations).toBe(1);
    expect(h.sim.stats.clientsRead).toEqual([before.clientId]);
    const after = (await getTenant(h.db, 'acme'))!;
    expect(after).toMatchObject({ clientId: before.clientId, clientSecretExpiresAt: rotated.client_secret_expires_at });
    expect(after.needsOperator).toBeUndefined();
    expect(h.sim.stats.tokenRequests.at(-1)).toMatchObject({ grantType: 'refresh_token', clientId: before.clientId, status: 200 });
    expect(await outcomes()).toEqual(['client_secret_renewed']);
  });

  it('a secret the provider rotated without notice (invalid_client) is read through RFC 7592, the refresh goes through, and the rotated registration access token is kept', async () => {
    h = await startHarness({ simulator: { clientType: 'confidential', registrationAccessTokenRotation: true } });
    await linkAccount(h, 'acme', 'alice');
    const client = (await getTenant(h.db, 'acme'))!.clientId;
    h.sim.rotateClientSecret(client);
    h.clock.advance(20_000);

    const res = await refresh();
    // the registration access token the read rotated is the one that deletes the client
    const deleted = await api(h, 'DELETE', '/v1/tenants/acme');

    expect(res.status).toBe(200);
    expect(h.sim.stats.tokenRequests.filter((r) => r.grantType === 'refresh_token').map((r) => r.status)).toEqual([401, 200]);
    expect(h.sim.stats.registrations).toBe(1);
    expect(deleted.status).toBe(204);
    expect(h.sim.stats.clientsDeleted).toEqual([client]);
  });

  it('an expired secret that cannot be renewed marks the tenant as needing the operator once, with an event; accounts stay linked and are not sent to the provider until the operator sends the secret', async () => {
    h = await startHarness({ simulator: { clientType: 'confidential', clientSecretTtlS: 600 } });
    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, 'acme', 'bob');
    const client = (await getTenant(h.db, 'acme'))!.clientId;
    // the secret expired and the provider has issued no other: the RFC 7592 read gives the same one
    h.clock.advance(601_000);
    const tokenRequestsBefore = h.sim.stats.tokenRequests.length;

    const alice = await refresh('alice');
    const bob = await refresh('bob');
    const served = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');

    expect([alice.status, bob.status]).toEqual([502, 502]);
    const body = (await alice.json()) as { error: string; error_description: string };
    expect(body.error).toBe('invalid_client');
    expect(body.error_description).toContain(`PUT /v1/tenants/acme with "client_id": "${client}"`);
    expect(h.sim.stats.tokenRequests.length).toBe(tokenRequestsBefore);
    expect(h.sim.stats.clientsRead).toEqual([client]);
    expect(served.status).toBe(200);
    expect(h.events.filter((e) => e.type === 'TenantNeedsOperator')).toEqual([{ type: 'TenantNeedsOperator', detail: expect.objectContaining({ tenant: 'acme', reason: 'client_secret_expired', client_id: client }) }]);
    expect(h.events.filter((e) => e.type === 'TokenRefreshFailed').map((e) => [e.detail.account, e.detail.reason, typeof e.detail.action])).toEqual([
      ['alice', 'invalid_client', 'string'],
      ['bob', 'invalid_client', 'string'],
    ]);
    for (const account of ['alice', 'bob']) expect((await getAccount(h.db, 'acme', account))?.status).toBe('linked');

    // the operator gets a new secret from LongPort and sends it
    const fresh = h.sim.rotateClientSecret(client, { expiresInS: 0 });
    const put = await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', client_id: client, client_secret: fresh.client_secret });
    const again = await refresh('alice');

    expect(put.status).toBe(200);
    expect(again.status).toBe(200);
    expect((await getTenant(h.db, 'acme'))!.needsOperator).toBeUndefined();
    expect(h.sim.stats.registrations).toBe(1);
    expect(await outcomes()).toEqual(['needs_operator:client_secret_expired', 'client_secret_rotated']);
  });
});

describe('tenant deletion as a job', () => {
  it('a deletion that does not fit in the request answers 202 { state: "deleting" }, GET shows the state, other changes wait, and the background finishes it', async () => {
    h = await startHarness();
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });
    const { refreshTokens } = await seedLinkedAccounts(h, 'acme', 60);
    // every revocation costs 200 ms of the broker's clock; past the request's budget they wait for the gate
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const start = h.clock();
    const real = h.deps.http.fetch;
    h.deps.http.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      if (String(input instanceof Request ? input.url : input).endsWith('/oauth2/revoke')) {
        const late = h.clock() - start >= JOB_REQUEST_BUDGET_MS;
        h.clock.advance(200);
        if (late) await gate;
      }
      return real(input, init);
    }) as typeof fetch;

    const res = await api(h, 'DELETE', '/v1/tenants/acme');
    const during = await api(h, 'GET', '/v1/tenants/acme');
    const change = await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', scope: '3 4' });
    const revokedWithinRequest = h.sim.stats.revocations.length;
    open();
    await h.deps.background.drain(30_000);

    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ state: 'deleting' });
    expect(during.status).toBe(200);
    expect(await during.json()).toMatchObject({ tenant: 'acme', state: 'deleting' });
    expect(change.status).toBe(409);
    expect(await change.json()).toMatchObject({ error: 'conflict', error_description: expect.stringContaining('being deleted') });
    expect(revokedWithinRequest).toBe(40);
    expect((await api(h, 'GET', '/v1/tenants/acme')).status).toBe(404);
    expect(h.sim.stats.revocations.sort()).toEqual([...refreshTokens].sort());
    expect((await tableKeys(h.db)).filter((k) => k.startsWith('TENANT#acme '))).toEqual([]);
  });

  it('a provider outage during a deletion: revocations are kept, the client deletion is tried again later, and the refresher finishes the job', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    await linkAccount(h, 'acme', 'bob');
    const client = (await getTenant(h.db, 'acme'))!.clientId;
    h.sim.setFaults({ revocationStatus: 503, registrationStatus: 503, retryAfterS: 0 });

    const res = await api(h, 'DELETE', '/v1/tenants/acme');
    await h.deps.background.drain(10_000);
    const during = (await (await api(h, 'GET', '/v1/tenants/acme')).json()) as { state: string };
    const pendingDuring = (await listPendingRevocations(h.db, { limit: 10, tenant: 'acme' })).items.map((p) => p.account);
    h.sim.resetFaults();
    h.clock.advance(3_600_000);
    const run = await runRefresher(h.deps, { deadline: h.clock() + 60_000 });

    expect(res.status).toBe(202);
    expect(during.state).toBe('deleting');
    expect(pendingDuring).toEqual(['alice', 'bob']);
    expect(run.jobs).toEqual({ resumed: 1, finished: 1 });
    expect(h.sim.stats.clientsDeleted).toEqual([client]);
    expect((await api(h, 'GET', '/v1/tenants/acme')).status).toBe(404);
    // the client went with its grants (RFC 7592): the kept revocations are done
    expect((await listPendingRevocations(h.db, { limit: 10 })).items).toEqual([]);
    const trail = await trailOldestFirst(h.db, 'acme', { limit: 100 });
    expect(trail.filter((e) => e.outcome === 'revoked_with_client').map((e) => e.account).sort()).toEqual(['alice', 'bob']);
    expect(trail.at(-1)).toMatchObject({ action: 'tenant.delete', outcome: 'deleted' });
  });
});
