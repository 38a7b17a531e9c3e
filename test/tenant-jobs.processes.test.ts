import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { runRefresher } from '../lib/broker/refresher.js';
import { JOB_LEASE_MS } from '../lib/broker/tenant-jobs.js';
import { listAccounts } from '../lib/store/accounts.js';
import { getTenant } from '../lib/store/tenants.js';
import { startLongPortSimulator, type LongPortSimulator } from '../simulator/longport-simulator.js';
import { dynamoEndpoint } from './support/dynamo.js';
import { api } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';
import { seedLinkedAccounts } from './support/seed.js';
import { startJobWorker, type JobWorker } from './support/workers.js';
import { trailOldestFirst } from './support/trail.js';

/**
 * Tenant deletion and region move as resumable jobs, with real processes: a broker process starts
 * the job on a tenant with 520 accounts (eleven pages), is killed with SIGKILL in the middle of it,
 * and the scheduled refresher of another process takes the job up and finishes every step.
 */
const ACCOUNTS = 520;

let h: Harness;
let cnSim: LongPortSimulator | undefined;
let worker: JobWorker | undefined;
afterEach(async () => {
  await worker?.kill();
  worker = undefined;
  await h?.close();
  await cnSim?.close();
  cnSim = undefined;
});

/** Waits until `done()` holds, polling (no timing assertion: the test's own timeout bounds it). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await sleep(10);
}

/** Every account of the tenant, all pages. */
async function allAccounts(tenant: string) {
  const out = [];
  let cursor: string | undefined;
  do {
    const page = await listAccounts(h.db, tenant, { limit: 200, cursor });
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out;
}

/** The harness's clock on the real clock (the worker's), past the lease the killed worker held. */
const afterTheWorkersLease = () => h.clock.set(Date.now() + JOB_LEASE_MS + 1_000);

describe('tenant jobs survive a crash', () => {
  it(`DELETE of a tenant with ${ACCOUNTS} accounts, its process killed mid-way: the refresher resumes and finishes every step — every refresh token revoked, the client deleted, nothing of the tenant left`, async () => {
    h = await startHarness();
    h.clock.set(Date.now());
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });
    const client = (await getTenant(h.db, 'acme'))!.clientId;
    const { refreshTokens } = await seedLinkedAccounts(h, 'acme', ACCOUNTS);

    worker = startJobWorker(h, dynamoEndpoint(), { method: 'DELETE', path: '/v1/tenants/acme' });
    await until(() => h.sim.stats.revocations.length >= 200);
    await worker.kill();
    const atCrash = { tenant: await getTenant(h.db, 'acme'), accounts: (await allAccounts('acme')).length, revoked: h.sim.stats.revocations.length };
    const refused = await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', scope: '3 4' });
    afterTheWorkersLease();
    const run = await runRefresher(h.deps, { deadline: h.clock() + 120_000 });

    // the crash left the job half done, with its state and cursor on the tenant
    expect(atCrash.tenant).toMatchObject({ state: 'deleting', job: expect.objectContaining({ kind: 'delete', step: 'unlink', cursor: expect.any(String) }) });
    expect(atCrash.accounts).toBeGreaterThan(0);
    expect(atCrash.accounts).toBeLessThan(ACCOUNTS);
    expect(refused.status).toBe(409);
    // the refresher finished it
    expect(run.jobs).toEqual({ resumed: 1, finished: 1 });
    expect(await getTenant(h.db, 'acme')).toBeUndefined();
    expect(await allAccounts('acme')).toEqual([]);
    expect(new Set(h.sim.stats.revocations)).toEqual(new Set(refreshTokens));
    expect(h.sim.stats.clientsDeleted).toEqual([client]);
    expect((await api(h, 'GET', '/v1/tenants/acme')).status).toBe(404);
    const trail = await trailOldestFirst(h.db, 'acme', { limit: 1000 });
    expect(new Set(trail.filter((e) => e.action === 'account.unlink').map((e) => e.account)).size).toBe(ACCOUNTS);
    expect(trail.filter((e) => e.action === 'tenant.delete').map((e) => e.outcome)).toEqual(['started', 'deleted']);
  }, 180_000);

  it(`a region move of a tenant with ${ACCOUNTS} accounts, its process killed mid-way: the refresher resumes and finishes every step — every account needs_reauth, every old refresh token revoked at the old issuer, the old client deleted, the tenant active`, async () => {
    cnSim = await startLongPortSimulator({ clock: () => h.clock() });
    h = await startHarness({ env: { LONGPORT_ISSUER_CN: cnSim.issuer } });
    h.clock.set(Date.now());
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });
    const oldClient = (await getTenant(h.db, 'acme'))!.clientId;
    const { refreshTokens } = await seedLinkedAccounts(h, 'acme', ACCOUNTS);

    worker = startJobWorker(h, dynamoEndpoint(), { method: 'PUT', path: '/v1/tenants/acme', body: { region: 'cn', change_region: true }, issuerCn: cnSim.issuer });
    await until(() => h.sim.stats.revocations.length >= 200);
    await worker.kill();
    const atCrash = { tenant: await getTenant(h.db, 'acme'), accounts: await allAccounts('acme') };
    const view = (await (await api(h, 'GET', '/v1/tenants/acme')).json()) as { state: string; region: string };
    afterTheWorkersLease();
    const run = await runRefresher(h.deps, { deadline: h.clock() + 120_000 });

    expect(atCrash.tenant).toMatchObject({ state: 'moving', region: 'cn', job: expect.objectContaining({ kind: 'move', step: 'accounts' }) });
    expect(view).toMatchObject({ state: 'moving', region: 'cn' });
    const reauthAtCrash = atCrash.accounts.filter((a) => a.status === 'needs_reauth').length;
    expect(reauthAtCrash).toBeGreaterThan(0);
    expect(reauthAtCrash).toBeLessThan(ACCOUNTS);
    expect(run.jobs).toEqual({ resumed: 1, finished: 1 });
    const after = await getTenant(h.db, 'acme');
    expect(after).toMatchObject({ region: 'cn', issuer: cnSim.issuer });
    expect(after!.state).toBeUndefined();
    expect(after!.job).toBeUndefined();
    expect(cnSim.clients.has(after!.clientId)).toBe(true);
    expect((await api(h, 'GET', '/v1/tenants/acme')).status).toBe(200);
    const accounts = await allAccounts('acme');
    expect(accounts).toHaveLength(ACCOUNTS);
    expect(accounts.every((a) => a.status === 'needs_reauth' && a.lastError === 'region_changed')).toBe(true);
    expect(new Set(h.sim.stats.revocations)).toEqual(new Set(refreshTokens));
    expect(h.sim.stats.clientsDeleted).toEqual([oldClient]);
    expect(cnSim.stats.revocations).toEqual([]);
    const updates = (await trailOldestFirst(h.db, 'acme', { limit: 1000 })).filter((e) => e.action === 'tenant.update').map((e) => e.outcome);
    expect(updates).toEqual(['region_move_started:global->cn', 'region_moved:global->cn']);
  }, 180_000);
});
