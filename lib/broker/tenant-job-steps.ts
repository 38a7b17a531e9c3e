import { listAccounts } from '../store/accounts.js';
import type { AccountRecord, TenantJob, TenantRecord } from '../store/records.js';
import { deleteTenantClient } from './client-deletion.js';
import type { BrokerDeps } from './deps.js';
import { settleRevocationsOfDeletedClient } from './revocation-retry.js';
import type { Revocation } from './revocation.js';
import { stepRetryInS, type StepContext, type StepResult } from './tenant-jobs.js';

/** Steps shared by a tenant's deletion and its region move. */

/** Accounts handled at once by a job step (a chunk: progress is saved after each). */
export const ACCOUNT_CONCURRENCY = 8;
/** Accounts read per page by a job step. */
export const JOB_PAGE_SIZE = 50;
/** A client deletion the provider keeps failing is given up after this many attempts (the client is then logged as orphaned). */
const CLIENT_DELETION_ATTEMPTS = 8;

/** What a revocation adds to a job's counts. */
export const countRevocation = (r: Revocation) => ({ revoked: r.revoked ? 1 : 0, revocationsPending: r.pending ? 1 : 0 });

/**
 * A step over the tenant's accounts after `job.cursor`, page by page and {@link ACCOUNT_CONCURRENCY}
 * at a time; progress (cursor and counts) is saved after each chunk, so a resumed step redoes at
 * most one chunk. `each` must be idempotent.
 */
export async function eachAccount(
  deps: BrokerDeps,
  tenant: TenantRecord,
  job: TenantJob,
  ctx: StepContext,
  each: (rec: AccountRecord) => Promise<{ revoked: number; revocationsPending: number } | undefined>,
): Promise<StepResult> {
  let current = job;
  for (;;) {
    const page = await listAccounts(deps.db, tenant.tenant, { limit: JOB_PAGE_SIZE, cursor: current.cursor });
    for (let i = 0; i < page.items.length; i += ACCOUNT_CONCURRENCY) {
      if (deps.clock() >= ctx.deadline) return { next: 'continue', job: current };
      const chunk = page.items.slice(i, i + ACCOUNT_CONCURRENCY);
      const results = await Promise.all(chunk.map(each));
      const p = current.progress;
      current = {
        ...current,
        cursor: chunk[chunk.length - 1]!.account,
        progress: {
          accounts: p.accounts + results.filter(Boolean).length,
          revoked: p.revoked + results.reduce((n, r) => n + (r?.revoked ?? 0), 0),
          revocationsPending: p.revocationsPending + results.reduce((n, r) => n + (r?.revocationsPending ?? 0), 0),
        },
      };
      await ctx.save(current);
    }
    if (!page.next) return { next: 'step_done', job: current };
  }
}

/**
 * RFC 7592 deletion of `client` (the tenant's, or the one a region move left), its pending
 * revocations settled with it; a provider outage is tried again later, up to a bound.
 */
export async function deleteClientStep(deps: BrokerDeps, tenant: TenantRecord, job: TenantJob, client: TenantRecord): Promise<StepResult> {
  const outcome = await deleteTenantClient(deps, client);
  if (outcome.deleted) {
    // the client's grants went with it (RFC 7592 §2.3): its pending revocations are done
    await settleRevocationsOfDeletedClient(deps, tenant.tenant, client.clientId);
    return { next: 'step_done', job: { ...job, client: 'deleted' } };
  }
  const attempts = job.attempts + 1;
  if (outcome.transient && attempts < CLIENT_DELETION_ATTEMPTS) return { next: 'wait', job: { ...job, attempts }, retryInS: stepRetryInS(attempts) };
  return { next: 'step_done', job: { ...job, client: `kept:${outcome.reason}` } };
}

