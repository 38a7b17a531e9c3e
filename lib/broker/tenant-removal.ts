import type { TenantJob, TenantRecord } from '../store/records.js';
import { deleteTenantOfJob, startTenantJob } from '../store/tenant-updates.js';
import { unlinkRecord } from './accounts.js';
import { audit } from './audit-trail.js';
import { requireAccess, type Caller } from './callers.js';
import type { BrokerDeps } from './deps.js';
import { countRevocation, deleteClientStep, eachAccount } from './tenant-job-steps.js';
import { newJob, refuseDuringJob, runJobFromRequest, type JobSteps, type StepResult } from './tenant-jobs.js';
import { readTenant, tenantChangedMeanwhile } from './tenant-read.js';

export interface TenantRemoval {
  /** `deleted`: done within the request (204); `deleting`: going on in the background (202). */
  state: 'deleted' | 'deleting';
}

/**
 * `DELETE /v1/tenants/{tenant}` as a resumable job (`tenant-jobs.ts`), in four steps:
 *
 * 1. `unlink`: every account is unlinked (revoked upstream, a revocation the provider cannot take
 *    now kept for the refresher, audited as `account.unlink`), page by page, in account-id order;
 * 2. `client`: the OAuth client is deleted through RFC 7592 when the provider gave a
 *    `registration_client_uri` (its grants go with it), tried again later while the provider is down;
 * 3. `late_unlink`: accounts a link completed while step 1 ran (once the client is gone no code
 *    exchange can succeed), from the first account again;
 * 4. `tenant`: the tenant record, audited as `tenant.delete`. Afterwards no item of the tenant's
 *    partition is left.
 *
 * What stays: the audit trail (its own partition, until its TTL: it records this deletion),
 * pending revocations (until done or given up), and pending links and flow states, which expire
 * within 10 minutes and cannot complete without the tenant.
 */
export async function removeTenant(deps: BrokerDeps, caller: Caller, tenant: string, options: { answerBy: number }): Promise<TenantRemoval> {
  requireAccess(caller, tenant, 'admin');
  const t = await readTenant(deps, tenant);
  // a deletion asked for again goes on with the one under way
  if (t.job?.kind !== 'delete') {
    refuseDuringJob(t);
    const now = deps.clock();
    if (!(await startTenantJob(deps.db, t, 'deleting', newJob(TENANT_REMOVAL, caller.id, now), now))) throw tenantChangedMeanwhile(tenant);
    await audit(deps, t, 'tenant.delete', { caller: caller.id, outcome: 'started' });
    deps.log.info('tenant.delete_started', { tenant });
  }
  const outcome = await runJobFromRequest(deps, tenant, TENANT_REMOVAL, options.answerBy);
  return { state: outcome === 'done' ? 'deleted' : 'deleting' };
}

export const TENANT_REMOVAL: JobSteps = {
  kind: 'delete',
  order: ['unlink', 'client', 'late_unlink', 'tenant'],
  async run(deps, tenant, job, ctx) {
    switch (job.step) {
      case 'unlink':
      case 'late_unlink':
        return eachAccount(deps, tenant, job, ctx, async (rec) => countRevocation(await unlinkRecord(deps, tenant, rec, job.requestedBy, 'tenant_delete')));
      case 'client':
        return deleteClientStep(deps, tenant, job, tenant);
      case 'tenant':
        return removeRecord(deps, tenant, job);
      default:
        throw new Error(`unknown step ${job.step} of a tenant deletion`);
    }
  },
};

async function removeRecord(deps: BrokerDeps, tenant: TenantRecord, job: TenantJob): Promise<StepResult> {
  const clientKept = job.client && job.client !== 'deleted' ? job.client.slice('kept:'.length) : undefined;
  await audit(deps, tenant, 'tenant.delete', { caller: job.requestedBy, outcome: clientKept ? `deleted:client_kept:${clientKept}` : 'deleted' });
  await deleteTenantOfJob(deps.db, tenant.tenant, job.id);
  deps.tokenCache.deleteTenant(tenant.tenant);
  deps.log.info('tenant.deleted', { tenant: tenant.tenant, ...job.progress, clientDeleted: clientKept === undefined });
  return { next: 'finished' };
}
