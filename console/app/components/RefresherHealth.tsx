/** The scheduled refresher's last run (`GET /v1/refresher`), where the broker reports it. */
import type { AdminApi } from '../../../client/admin-api.js';
import { exact, plural } from '../format.js';
import type { ConsoleMode } from '../session.js';
import { Card, ProblemNotice, Time, useLoad, useNow } from './common.js';

export function RefresherHealthCard({ api, mode, onUnauthorized }: { api: AdminApi; mode: ConsoleMode; onUnauthorized: (note: string) => void }) {
  const now = useNow();
  const health = useLoad(() => api.refresherHealth(), [api], { mode, onUnauthorized, what: 'report the refresher’s health' });
  const run = health.data?.last_run;
  const failed = run ? Object.entries(run.failed).filter(([, n]) => n > 0) : [];
  const intervalS = health.data?.interval_s;
  // a run older than three intervals means the schedule stopped
  const stale = run && intervalS ? now - Date.parse(run.at) > 3 * intervalS * 1000 : false;
  return (
    <Card title="Refresher" id="refresher" class="refresher">
      {health.problem &&
        (health.problem.missingRoute ? (
          <p class="muted" data-testid="refresher-unknown">
            This broker does not report the refresher’s runs yet. Tokens are still renewed on schedule; the timeline of each tenant shows when.
          </p>
        ) : (
          <ProblemNotice problem={health.problem} onRetry={health.reload} compact />
        ))}
      {health.loading && !health.data && !health.problem && <p class="muted">Loading…</p>}
      {health.data && !run && <p class="muted">No run reported yet{intervalS ? ` (runs every ${intervalS} s)` : ''}.</p>}
      {run && (
        <dl class="facts" data-testid="refresher-health">
          <dt>Last run</dt>
          <dd>
            <Time at={Date.parse(run.at)} now={now} /> <span class="muted">({exact(Date.parse(run.at))})</span>
            {stale && <span class="badge status-needs_reauth">▲ overdue</span>}
          </dd>
          {intervalS !== undefined && (
            <>
              <dt>Schedule</dt>
              <dd>every {intervalS} s</dd>
            </>
          )}
          <dt>Due</dt>
          <dd>{plural(run.due, 'account')}</dd>
          <dt>Refreshed</dt>
          <dd>{run.refreshed.toLocaleString()}</dd>
          <dt>Skipped</dt>
          <dd>{run.skipped.toLocaleString()}</dd>
          <dt>Failed</dt>
          <dd>
            {failed.length === 0 ? (
              <span class="muted">none</span>
            ) : (
              <ul class="plain">
                {failed.map(([reason, n]) => (
                  <li key={reason}>
                    <span class="badge status-needs_reauth">▲ {n.toLocaleString()}</span> <code>{reason}</code>
                  </li>
                ))}
              </ul>
            )}
          </dd>
          <dt>Took</dt>
          <dd>{(run.duration_ms / 1000).toFixed(1)} s</dd>
        </dl>
      )}
    </Card>
  );
}
