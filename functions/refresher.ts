import type { Context } from 'aws-lambda';
import { runRefresher } from '../lib/broker/refresher.js';
import { lambdaDeps } from '../lib/runtime/aws.js';

/** EventBridge schedule → one refresher run within the function's remaining time. */
lambdaDeps('refresher');

export async function handler(_event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'>) {
  const deps = lambdaDeps('refresher');
  const report = await runRefresher(deps, { deadline: deps.clock() + context.getRemainingTimeInMillis() - 2_000 });
  // a commit still retrying, events still queued: the invocation ends only when they are done (or its time is)
  await deps.background.drain(context.getRemainingTimeInMillis() - 1_000);
  // failures are per account and already recorded (audit, events, metrics); the run itself succeeded
  return { due: report.due, refreshed: report.refreshed, skipped: report.skipped, failed: report.failed, stoppedEarly: report.stoppedEarly, jobs: report.jobs, revocations: report.revocations };
}
