import type { TenantJob } from '../store/records.js';
import type { BrokerDeps } from './deps.js';
import { REGION_MOVE } from './region-move.js';
import { runTenantJob, type JobRunOutcome, type JobSteps } from './tenant-jobs.js';
import { TENANT_REMOVAL } from './tenant-removal.js';

const STEPS: Record<TenantJob['kind'], JobSteps> = { delete: TENANT_REMOVAL, move: REGION_MOVE };

/**
 * Takes up a tenant's unfinished job, whatever its kind, where its last holder left it (the
 * scheduled refresher, for every tenant its index says is due: a lease that lapsed, a step to try
 * again). Runs until the job ends or `deadline` (deps.clock).
 */
export function resumeTenantJob(deps: BrokerDeps, tenant: string, deadline: number): Promise<JobRunOutcome> {
  return runTenantJob(deps, tenant, (kind) => STEPS[kind], deadline);
}
