import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerError, toBrokerError } from '../errors.js';
import { metricFields } from '../metrics.js';
import { queryDue, takeDueLease, type DueItem } from '../store/accounts.js';
import type { TenantRecord } from '../store/records.js';
import { putRefresherReport } from '../store/refresher-report.js';
import { allDueShards } from '../store/schema.js';
import { ensureClientSecretCurrent } from './client-secret-expiry.js';
import type { BrokerDeps } from './deps.js';
import { LEASE_MS, leaseOwner, refreshHeld } from './refresh.js';
import { expireUnconfirmedLinkSessions } from './linking-expiry.js';
import { retryPendingRevocations } from './revocation-retry.js';
import { resumeTenantJob } from './tenant-job-resume.js';
import { readTenant } from './tenant-read.js';

/**
 * The scheduled refresher: renews every account whose refresh is due, before anyone asks.
 *
 * - Due accounts come from a query on the sparse `by-refresh-due` index (KEYS_ONLY), never a scan:
 *   a run reads the index entries of the accounts that are due and nothing else.
 * - Each account is claimed with a conditional write (`takeDueLease`), so overlapping runs, a
 *   duplicate schedule delivery or a token call refreshing at the same moment never refresh one
 *   generation twice.
 * - Concurrency towards the provider is bounded; a `Retry-After` from the provider pauses the whole
 *   run, and the run stops starting refreshes when its deadline nears.
 * - The same index names tenants with an unfinished job (a deletion or region move whose process
 *   died, or a step to try again): the run takes each up where it was left (`tenant-job-resume.ts`).
 * - Then the revocations the provider could not take are tried again (`revocation-retry.ts`).
 * - The run's report is written to one item (`putRefresherReport`) for the refresher-health route.
 */
export interface RefresherRunOptions {
  /** ms epoch by which the run must have finished. */
  deadline: number;
  /** Refreshes in flight at once (towards the provider). */
  concurrency?: number;
  /** Index entries per query page. */
  pageSize?: number;
}

export interface RefresherRunReport {
  due: number;
  refreshed: number;
  skipped: number;
  failed: Record<string, number>;
  /** Index items read (ScannedCount) and read capacity consumed by the due queries. */
  itemsRead: number;
  consumedRcu: number;
  /** Seconds of validity the renewed tokens had left when renewed. */
  lagS: number[];
  /** Tenant jobs taken up, and those of them that ended in this run. */
  jobs: { resumed: number; finished: number };
  /** Pending revocations: still waiting after the run, done, given up. */
  revocations: { pending: number; revoked: number; givenUp: number };
  stoppedEarly: boolean;
  durationMs: number;
}

export async function runRefresher(deps: BrokerDeps, options: RefresherRunOptions): Promise<RefresherRunReport> {
  const started = deps.clock();
  const concurrency = options.concurrency ?? 8;
  const report: RefresherRunReport = {
    due: 0,
    refreshed: 0,
    skipped: 0,
    failed: {},
    itemsRead: 0,
    consumedRcu: 0,
    lagS: [],
    jobs: { resumed: 0, finished: 0 },
    revocations: { pending: 0, revoked: 0, givenUp: 0 },
    stoppedEarly: false,
    durationMs: 0,
  };
  let pausedUntil = 0;
  // leave room for one provider call after the last start
  const lastStart = options.deadline - deps.http.timeoutMs - 1000;

  const queue: DueItem[] = [];
  const shards = allDueShards();
  const cursors = new Map<string, Record<string, unknown> | undefined>(shards.map((s) => [s, undefined]));
  const exhausted = new Set<string>();

  // one refill at a time: workers that find the queue empty share it
  let refilling: Promise<void> | undefined;
  const refill = (): Promise<void> => (refilling ??= fill().finally(() => (refilling = undefined)));
  const fill = async (): Promise<void> => {
    for (const shard of shards) {
      if (exhausted.has(shard) || queue.length >= concurrency * 4) continue;
      const page = await queryDue(deps.db, shard, Math.floor(deps.clock() / 1000), { limit: options.pageSize ?? 100, startKey: cursors.get(shard) });
      report.itemsRead += page.items.length;
      report.consumedRcu += page.consumedRcu;
      queue.push(...page.items);
      report.due += page.items.filter((item) => item.kind === 'account').length;
      cursors.set(shard, page.startKey);
      if (!page.startKey) exhausted.add(shard);
    }
  };

  // one read per tenant per run, not one per account
  const tenants = new Map<string, Promise<TenantRecord>>();
  const tenantOf = (tenant: string) => {
    let record = tenants.get(tenant);
    if (!record) {
      record = readTenant(deps, tenant).then((t) => ensureClientSecretCurrent(deps, t));
      record.catch(() => tenants.delete(tenant));
      tenants.set(tenant, record);
    }
    return record;
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      if (queue.length === 0) {
        if (exhausted.size === shards.length) return;
        await refill();
        continue;
      }
      if (pausedUntil > deps.clock()) await sleep(Math.min(pausedUntil - deps.clock(), Math.max(0, lastStart - deps.clock())));
      if (deps.clock() > lastStart) {
        report.stoppedEarly = true;
        return;
      }
      const target = queue.shift()!;
      if (target.kind === 'tenant-job') {
        await resumeJob(target.tenant);
        continue;
      }
      const now = deps.clock();
      const leased = await takeDueLease(deps.db, target, leaseOwner(deps), now, LEASE_MS);
      if (!leased) {
        // claimed by another run or a token call, no longer due, or not linked: nothing to do
        report.skipped += 1;
        continue;
      }
      try {
        await refreshHeld(deps, leased, { mode: 'force', deadline: options.deadline, caller: 'refresher', tenantOf });
        report.refreshed += 1;
        report.lagS.push(Math.round((leased.expiresAt - now) / 1000));
      } catch (err) {
        const failure = toBrokerError(err, 'refresh');
        report.failed[failure.code] = (report.failed[failure.code] ?? 0) + 1;
        if (failure.requestedRetryAfterS) pausedUntil = Math.max(pausedUntil, deps.clock() + failure.requestedRetryAfterS * 1000);
        // the tenant was marked as needing the operator: the next account reads the mark and skips the provider
        if (failure.code === 'invalid_client') tenants.delete(target.tenant);
        if (!(err instanceof BrokerError)) deps.log.error('refresher.account_failed', { tenant: target.tenant, account: target.account, err });
      }
    }
  };

  const resumeJob = async (tenant: string): Promise<void> => {
    try {
      const outcome = await resumeTenantJob(deps, tenant, lastStart);
      if (outcome === 'busy') return;
      report.jobs.resumed += 1;
      if (outcome === 'done') report.jobs.finished += 1;
    } catch (err) {
      deps.log.error('refresher.job_failed', { tenant, err });
    }
  };

  await refill();
  await Promise.all(Array.from({ length: concurrency }, worker));
  await expireUnconfirmedLinkSessions(deps, { deadline: options.deadline });
  try {
    report.revocations = await retryPendingRevocations(deps, { deadline: lastStart });
  } catch (err) {
    deps.log.error('refresher.revocations_failed', { err });
  }
  report.durationMs = deps.clock() - started;
  const failedTotal = Object.values(report.failed).reduce((a, b) => a + b, 0);
  deps.log.info(
    'metrics',
    metricFields({
      AccountsDue: { value: report.due, unit: 'Count' },
      RefreshSucceeded: { value: report.refreshed, unit: 'Count' },
      RefreshFailed: { value: failedTotal, unit: 'Count' },
      RevocationsPending: { value: report.revocations.pending },
      ...(report.lagS.length ? { RefreshLag: { value: report.lagS, unit: 'Seconds' } } : {}),
    }),
  );
  for (const [reason, count] of Object.entries(report.failed)) {
    deps.log.info('metrics', metricFields({ RefreshFailedByReason: { value: count, unit: 'Count' } }, { reason }));
  }
  const lagMedianS = median(report.lagS);
  deps.log.info('refresher.run', { ...report, lagS: undefined, lagMedianS });
  await writeReport(deps, report, lagMedianS);
  return report;
}

/** The run as the console shows it, in one item; a failure to write it is logged and the run stands. */
async function writeReport(deps: BrokerDeps, report: RefresherRunReport, lagMedianS: number | undefined): Promise<void> {
  const { due, refreshed, skipped, failed, durationMs, stoppedEarly, jobs, revocations } = report;
  try {
    await putRefresherReport(deps.db, { at: new Date(deps.clock()).toISOString(), due, refreshed, skipped, failed, durationMs, stoppedEarly, jobs, revocations, ...(lagMedianS === undefined ? {} : { lagMedianS }) });
  } catch (err) {
    deps.log.error('refresher.report_not_written', { err });
  }
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

