import { randomBytes } from 'node:crypto';
import { BrokerError, toBrokerError } from '../errors.js';
import type { TenantJob, TenantRecord } from '../store/records.js';
import { saveJob, takeJobLease } from '../store/tenant-updates.js';
import type { BrokerDeps } from './deps.js';

/**
 * Long tenant operations (a deletion, a region move) as resumable jobs. The tenant record carries
 * the job: its step, a cursor in the step (the last account done), its counts, and a lease naming
 * the one process working on it. Each step is idempotent, so whoever takes the job up after a crash
 * redoes at most the slice that was under way.
 *
 * - The request that starts a job does as much as fits in {@link JOB_REQUEST_BUDGET_MS} (204/200
 *   when that finishes it, else 202 and `state`), then goes on in `deps.background`.
 * - Every saved slice extends the lease and sets the tenant's `dueAt` in the refresher's index to
 *   the lease's end, so a job whose process died is taken up by the next refresher run after
 *   {@link JOB_LEASE_MS} (`tenant-job-resume.ts`); locally the in-process refresher does the same.
 * - A step that fails (the provider down during a client deletion, the store gone) leaves the job
 *   to be tried again later, never half-forgotten.
 */
export const JOB_LEASE_MS = 60_000;
/** A request works on its job for at most this long before it answers 202. */
export const JOB_REQUEST_BUDGET_MS = 8_000;
/** Margin kept between background job work and the end of a Lambda invocation. */
const BACKGROUND_MARGIN_MS = 2_000;
/** A step that failed is tried again after 1, 2, 4, … minutes, at most an hour apart. */
export const stepRetryInS = (attempts: number): number => Math.min(3600, 60 * 2 ** Math.max(0, attempts - 1));

/** What a step did with the time it had. */
export type StepResult =
  /** More to do in this step (its time ran out); the job as it stands. */
  | { next: 'continue'; job: TenantJob }
  /** The step is over; the job moves to the kind's next step. */
  | { next: 'step_done'; job: TenantJob }
  /** The step cannot go on now (a provider outage): try again in `retryInS`. */
  | { next: 'wait'; job: TenantJob; retryInS: number }
  /** The last step ended the job (the tenant is deleted, or active again). */
  | { next: 'finished' };

export interface StepContext {
  /** ms epoch (deps.clock) by which the step must hand back. */
  deadline: number;
  /** Records the step's progress (cursor, counts) under the lease, and extends the lease. */
  save(job: TenantJob): Promise<void>;
}

/** The steps of one kind of job, in order, and how each runs. */
export interface JobSteps {
  readonly kind: TenantJob['kind'];
  readonly order: readonly string[];
  run(deps: BrokerDeps, tenant: TenantRecord, job: TenantJob, ctx: StepContext): Promise<StepResult>;
}

export type JobRunOutcome =
  /** The job is over (also when another process finished it meanwhile). */
  | 'done'
  /** More to do: this process stopped (out of time, or a step waits), and the job is due again. */
  | 'pending'
  /** Another process holds the job's lease. */
  | 'busy';

/** The job's lease went to another process (this one was too slow): it stops, the other goes on. */
class JobTakenOver extends BrokerError {
  constructor(tenant: string, kind: TenantJob['kind']) {
    super('conflict', 409, `the ${kind} job of tenant ${tenant} was taken over by another process`);
  }
}

/** A new job, at its kind's first step. */
export function newJob(steps: JobSteps, requestedBy: string, now: number, extra: Partial<TenantJob> = {}): TenantJob {
  return { id: randomBytes(8).toString('hex'), kind: steps.kind, step: steps.order[0]!, requestedBy, startedAt: now, progress: { accounts: 0, revoked: 0, revocationsPending: 0 }, attempts: 0, ...extra };
}

/**
 * Takes the tenant's job and runs its steps until the job ends or `deadline` (deps.clock) passes;
 * `stepsOf` names the steps of the job's kind.
 */
export async function runTenantJob(deps: BrokerDeps, tenant: string, stepsOf: (kind: TenantJob['kind']) => JobSteps, deadline: number): Promise<JobRunOutcome> {
  const owner = deps.instanceId;
  const taken = await takeJobLease(deps.db, tenant, owner, deps.clock(), JOB_LEASE_MS);
  if (!taken.ok) return taken.current?.job ? 'busy' : 'done';
  const record = taken.tenant;
  let job = record.job!;
  const steps = stepsOf(job.kind);
  const save = async (next: TenantJob, dueAtS?: number, release = false) => {
    const leaseUntil = deps.clock() + JOB_LEASE_MS;
    const { leaseOwner: _o, leaseUntil: _u, ...unleased } = next;
    const stored: TenantJob = release ? unleased : { ...unleased, leaseOwner: owner, leaseUntil };
    if (!(await saveJob(deps.db, tenant, stored, owner, dueAtS ?? Math.ceil(leaseUntil / 1000)))) throw new JobTakenOver(tenant, job.kind);
    job = next;
  };
  const release = (dueAtS: number) => save(job, dueAtS, true);
  const nowS = () => Math.floor(deps.clock() / 1000);
  try {
    for (;;) {
      if (deps.clock() >= deadline) {
        await release(nowS());
        return 'pending';
      }
      const result = await steps.run(deps, record, job, { deadline, save: (j) => save(j) });
      if (result.next === 'finished') {
        deps.log.info('tenant.job_finished', { tenant, kind: job.kind, ...job.progress, client: job.client, ms: deps.clock() - job.startedAt });
        return 'done';
      }
      if (result.next === 'wait') {
        job = result.job;
        await release(nowS() + result.retryInS);
        deps.log.warn('tenant.job_waiting', { tenant, kind: job.kind, step: job.step, attempts: job.attempts, retryInS: result.retryInS });
        return 'pending';
      }
      if (result.next === 'step_done') {
        const following = steps.order[steps.order.indexOf(result.job.step) + 1];
        if (following === undefined) throw new Error(`job step ${result.job.step} of ${job.kind} has no successor and did not finish the job`);
        const { cursor: _c, ...rest } = result.job;
        await save({ ...rest, step: following, attempts: 0 });
      } else {
        await save(result.job);
      }
    }
  } catch (caught) {
    if (caught instanceof JobTakenOver) return 'busy';
    const err = toBrokerError(caught, `tenant ${job.kind}`);
    // a failed step is tried again later: the job stays, due after a pause
    const attempts = job.attempts + 1;
    deps.log.error('tenant.job_step_failed', { tenant, kind: job.kind, step: job.step, attempts, reason: err.code, err });
    await save({ ...job, attempts }, nowS() + stepRetryInS(attempts), true).catch((saveErr) => deps.log.error('tenant.job_not_saved', { tenant, err: saveErr }));
    return 'pending';
  }
}

/**
 * Runs a job that a request just started or asked for again: as much as fits before the answer is
 * due, then in the background (bounded by the process, or the Lambda invocation). Answers whether
 * it is done.
 */
export async function runJobFromRequest(deps: BrokerDeps, tenant: string, steps: JobSteps, answerBy: number): Promise<JobRunOutcome> {
  const outcome = await runTenantJob(deps, tenant, () => steps, Math.min(answerBy, deps.clock() + JOB_REQUEST_BUDGET_MS));
  if (outcome !== 'done') deps.background.run(`tenant ${steps.kind}`, () => runTenantJob(deps, tenant, () => steps, backgroundDeadline(deps)));
  return outcome;
}

/** How long background job work may go on: the process's life locally, the invocation's remaining time in Lambda. */
function backgroundDeadline(deps: BrokerDeps): number {
  return deps.clock() + deps.background.remainingMs() - BACKGROUND_MARGIN_MS;
}

/** A tenant with a job accepts no other change until the job is over. */
export function refuseDuringJob(tenant: TenantRecord): void {
  if (!tenant.job) return;
  const doing = tenant.job.kind === 'delete' ? 'being deleted' : `moving to region ${tenant.job.toRegion ?? tenant.region}`;
  throw new BrokerError('conflict', 409, `tenant ${tenant.tenant} is ${doing}; try again when that is done (GET /v1/tenants/${tenant.tenant} shows its state)`);
}
