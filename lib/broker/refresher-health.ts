import { getRefresherReport } from '../store/refresher-report.js';
import { requireEveryTenant, type Caller } from './callers.js';
import type { BrokerDeps } from './deps.js';

/** `GET /v1/refresher`: the scheduled refresher's last run (absent before the first), and how often it runs. */
export interface RefresherHealth {
  last_run?: { at: string; due: number; refreshed: number; skipped: number; failed: Record<string, number>; duration_ms: number };
  interval_s: number;
}

/**
 * `GET /v1/refresher` (a broker extension, for the operator console): what the last refresher run
 * reported, read from its one item, and the period it runs at (`BROKER_REFRESH_INTERVAL_S`: the
 * local timer's, or the schedule's rate, which the stack sets there). For an admin of every tenant:
 * a run covers every tenant.
 */
export async function readRefresherHealth(deps: BrokerDeps, caller: Caller): Promise<RefresherHealth> {
  requireEveryTenant(caller);
  const report = await getRefresherReport(deps.db);
  const interval_s = deps.config.refreshIntervalS;
  if (!report) return { interval_s };
  return {
    last_run: { at: report.at, due: report.due, refreshed: report.refreshed, skipped: report.skipped, failed: report.failed, duration_ms: report.durationMs },
    interval_s,
  };
}
