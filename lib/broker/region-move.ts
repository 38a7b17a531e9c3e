import { BrokerError } from '../errors.js';
import { REAUTH_AT_GENERATION, withRetries } from '../retry.js';
import type { AccountRecord, PreviousClient, TenantJob, TenantRecord } from '../store/records.js';
import { finishTenantJob, replaceTenantStartingJob } from '../store/tenant-updates.js';
import { audit } from './audit-trail.js';
import type { Caller } from './callers.js';
import { discardUnusedClient } from './client-deletion.js';
import type { BrokerDeps } from './deps.js';
import { requireReauth } from './reauth.js';
import { revokeAccountTokens } from './revocation.js';
import { countRevocation, deleteClientStep, eachAccount } from './tenant-job-steps.js';
import { newJob, refuseDuringJob, runJobFromRequest, type JobSteps, type StepResult } from './tenant-jobs.js';
import { importedClient, registerNewClient, tenantRecordFor, type RegisterTenantInput } from './tenant-record.js';
import { tenantChangedMeanwhile } from './tenant-read.js';
import { tenantView, type TenantView } from './tenant-view.js';

/**
 * Region change (`PUT /v1/tenants/{tenant}` with `"change_region": true`). Within the request: a
 * client in the new region (registered, or imported) replaces the old one in the tenant record,
 * which becomes `moving` with a job (`tenant-jobs.ts`) that keeps the old client. The job then:
 *
 * 1. `accounts`: every account whose tokens came from the old issuer has its refresh token revoked
 *    there with the old client (kept for the refresher when the provider is down), then moves to
 *    `needs_reauth` — its tokens are never sent to the new issuer;
 * 2. `client`: the old client is deleted (RFC 7592), tried again later while the provider is down;
 * 3. `finish`: the tenant is `active` again, audited.
 *
 * Answered 200 when the job ends within the request, else 202 with `state: "moving"`.
 */
export async function moveTenantRegion(
  deps: BrokerDeps,
  caller: Caller,
  existing: TenantRecord,
  input: RegisterTenantInput,
  origins: string[] | undefined,
  options: { answerBy: number },
): Promise<TenantView> {
  refuseDuringJob(existing);
  const issuer = deps.config.issuers[input.region];
  const scope = input.scope ?? existing.scope;
  const client = input.client_id ? importedClient(input) : await registerNewClient(deps, issuer, existing.tenant, scope);
  const now = deps.clock();
  const settings = {
    tenant: existing.tenant,
    region: input.region,
    issuer,
    scope,
    returnToOrigins: origins ?? existing.returnToOrigins,
    confirmLinks: input.confirm_links ?? existing.confirmLinks ?? false,
    imported: Boolean(input.client_id),
    createdAt: existing.createdAt,
    updatedAt: Math.max(now, existing.updatedAt + 1),
  };
  const job = newJob(REGION_MOVE, caller.id, now, { previous: previousClientOf(existing), toRegion: input.region });
  const next = { ...(await tenantRecordFor(deps, settings, client)), state: 'moving' as const, job };
  if (!(await replaceTenantStartingJob(deps.db, next, existing.updatedAt, now))) {
    await discardUnusedClient(deps, issuer, client);
    throw tenantChangedMeanwhile(existing.tenant);
  }
  await audit(deps, existing, 'tenant.update', { caller: caller.id, outcome: `region_move_started:${existing.region}->${input.region}` });
  deps.log.info('tenant.region_move_started', { tenant: existing.tenant, from: existing.region, to: input.region });
  return continueTenantMove(deps, next, options);
}

/** A move started, or asked for again while it runs: as much as fits in the request, then in the background. */
export async function continueTenantMove(deps: BrokerDeps, moving: TenantRecord, options: { answerBy: number }): Promise<TenantView> {
  const outcome = await runJobFromRequest(deps, moving.tenant, REGION_MOVE, options.answerBy);
  const { job: _j, state: _s, ...active } = moving;
  return tenantView(outcome === 'done' ? active : moving);
}

export const REGION_MOVE: JobSteps = {
  kind: 'move',
  order: ['accounts', 'client', 'finish'],
  async run(deps, tenant, job, ctx) {
    const previous = previousTenant(tenant, job);
    switch (job.step) {
      case 'accounts':
        return eachAccount(deps, tenant, job, ctx, (rec) => leaveOldIssuer(deps, previous, rec, job.requestedBy));
      case 'client':
        return deleteClientStep(deps, tenant, job, previous);
      case 'finish':
        return finishMove(deps, tenant, job, previous);
      default:
        throw new Error(`unknown step ${job.step} of a region move`);
    }
  },
};

function previousClientOf(t: TenantRecord): PreviousClient {
  const { region, issuer, clientId, clientType, tokenEndpointAuthMethod, registrationClientUri, sealedClient, sealedRegistration } = t;
  return { region, issuer, clientId, clientType, tokenEndpointAuthMethod, registrationClientUri, sealedClient, sealedRegistration };
}

/** The tenant as it was before the move: every client field is the old client's, absent ones included. */
function previousTenant(tenant: TenantRecord, job: TenantJob): TenantRecord {
  const p = job.previous;
  if (!p) throw new Error(`the region move of tenant ${tenant.tenant} carries no previous client`);
  return {
    ...tenant,
    region: p.region,
    issuer: p.issuer,
    clientId: p.clientId,
    clientType: p.clientType,
    tokenEndpointAuthMethod: p.tokenEndpointAuthMethod,
    registrationClientUri: p.registrationClientUri,
    sealedClient: p.sealedClient,
    sealedRegistration: p.sealedRegistration,
  };
}

/**
 * One account of the old issuer: its refresh token revoked there first, then `needs_reauth`, so a
 * resumed chunk finds it still linked and does both again (a revocation is idempotent). An account
 * linked again in the new region meanwhile is left alone.
 */
async function leaveOldIssuer(deps: BrokerDeps, previous: TenantRecord, rec: AccountRecord, callerId: string) {
  if (rec.issuer !== previous.issuer) return undefined;
  const revocation = await revokeAccountTokens(deps, previous, rec, undefined, 'region_move');
  if (rec.status === 'linked') await markNeedsReauthFromLatest(deps, rec, callerId);
  return countRevocation(revocation);
}

/** `linked` → `needs_reauth` at the generation read; a refresh committed meanwhile is read and marked too. */
async function markNeedsReauthFromLatest(deps: BrokerDeps, rec: AccountRecord, callerId: string): Promise<boolean> {
  let current: AccountRecord | undefined = rec;
  return withRetries(REAUTH_AT_GENERATION, { what: 'region change' }, async () => {
    if (current?.status !== 'linked') return false;
    const res = await requireReauth(deps, current, callerId, 'region_changed');
    if (res.ok) return true;
    current = res.current;
    if (current?.status !== 'linked') return false;
    throw new BrokerError('conflict', 409, `account ${rec.account} kept changing during the region change; it is tried again`);
  });
}

async function finishMove(deps: BrokerDeps, tenant: TenantRecord, job: TenantJob, previous: TenantRecord): Promise<StepResult> {
  await audit(deps, tenant, 'tenant.update', { caller: job.requestedBy, outcome: `region_moved:${previous.region}->${tenant.region}` });
  await finishTenantJob(deps.db, tenant, job.id, deps.clock());
  deps.log.info('tenant.region_changed', { tenant: tenant.tenant, from: previous.region, to: tenant.region, ...job.progress, client: job.client });
  return { next: 'finished' };
}
