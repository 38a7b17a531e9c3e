/**
 * The tenant's audit trail, newest first, filtered by account and by token fingerprint. A leaked
 * token can be pasted as it is: the page hashes it here (WebCrypto) and sends only the fingerprint.
 */
import { useState } from 'preact/hooks';
import { FINGERPRINT_PATTERN, tokenFingerprint, type AdminApi, type AuditEvent } from '../../../client/admin-api.js';
import { ID_PATTERN } from '../../../client/http.js';
import { auditView, type AuditFilter as Filter } from '../audit-view.js';
import { describeProblem, type Problem } from '../problem.js';
import type { ConsoleMode } from '../session.js';
import { Card, DataTable, FieldError, ProblemNotice, Time, useLoad, useNow } from './common.js';

const PAGE = 100;

export function AuditTrail({ api, mode, tenant, onUnauthorized }: { api: AdminApi; mode: ConsoleMode; tenant: string; onUnauthorized: (note: string) => void }) {
  const now = useNow();
  const [filter, setFilter] = useState<Filter>({});
  const [older, setOlder] = useState<{ events: AuditEvent[]; next?: string | undefined }>({ events: [] });
  const [olderProblem, setOlderProblem] = useState<Problem>();
  const query = (cursor?: string) => ({ limit: PAGE, ...(filter.account ? { account: filter.account } : {}), ...(filter.fingerprint ? { token_fingerprint: filter.fingerprint } : {}), ...(cursor ? { cursor } : {}) });
  const first = useLoad(
    async () => {
      setOlder({ events: [] });
      return api.audit(tenant, query());
    },
    [api, tenant, filter.account, filter.fingerprint],
    { mode, onUnauthorized, what: 'read the audit trail' },
  );
  const next = older.events.length ? older.next : first.data?.next;
  const { events, ignoredFingerprint, oldestFirst } = auditView([...(first.data?.events ?? []), ...older.events], filter);
  const loadOlder = async () => {
    try {
      const page = await api.audit(tenant, query(next));
      setOlder((o) => ({ events: [...o.events, ...page.events], next: page.next }));
      setOlderProblem(undefined);
    } catch (err) {
      setOlderProblem(describeProblem(err, mode, 'read more of the audit trail'));
    }
  };

  return (
    <Card title="Audit trail" id="audit">
      <AuditFilter filter={filter} onApply={setFilter} />
      {first.problem && <ProblemNotice problem={first.problem} onRetry={first.reload} />}
      {ignoredFingerprint && (
        <p class="alert info" role="status">
          This broker does not filter by token fingerprint yet: it answered events of other tokens, which are hidden here.
        </p>
      )}
      {oldestFirst && (
        <p class="alert info" role="status">
          This broker answers its trail oldest first; each page is shown newest first, and “Load more” reaches newer events.
        </p>
      )}
      {first.loading && !first.data && <p class="muted">Loading the audit trail…</p>}
      {first.data && events.length === 0 && (
        <p class="empty muted" data-testid="audit-empty">
          {filter.account || filter.fingerprint ? 'No event matches this filter.' : 'No event recorded for this tenant yet.'}
        </p>
      )}
      {events.length > 0 && (
        <DataTable testId="audit-table" columns={['When', 'Action', 'Account', 'Caller', 'Outcome', 'Token']}>
          {events.map((e, i) => (
            <tr key={`${e.at}-${i}`} class={needsAttention(e) ? 'row-attention' : undefined}>
              <td>
                <Time at={Date.parse(e.at)} now={now} />
              </td>
              <td>
                <code>{e.action}</code>
                {e.count !== undefined && <span class="muted"> ×{e.count.toLocaleString()}</span>}
              </td>
              <td class="account-id">{e.account ?? <span class="muted">—</span>}</td>
              <td class="caller" title={e.caller}>
                {e.caller}
              </td>
              <td>{needsAttention(e) ? <span class="badge status-needs_reauth">▲ {e.outcome}</span> : <span class="muted">{e.outcome}</span>}</td>
              <td>
                {e.token_fingerprint ? <code title={`generation ${e.generation ?? '?'}`}>{e.token_fingerprint}</code> : <span class="muted">—</span>}
                {e.generation !== undefined && <span class="muted"> gen {e.generation}</span>}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      {olderProblem && <ProblemNotice problem={olderProblem} onRetry={loadOlder} compact />}
      {next && (
        <button type="button" class="button" onClick={loadOlder}>
          Load more
        </button>
      )}
    </Card>
  );
}

function AuditFilter({ filter, onApply }: { filter: Filter; onApply: (f: Filter) => void }) {
  const [account, setAccount] = useState(filter.account ?? '');
  const [token, setToken] = useState(filter.fingerprint ?? '');
  const [note, setNote] = useState<string>();
  const [error, setError] = useState<string>();

  const apply = async (e: Event) => {
    e.preventDefault();
    const a = account.trim();
    const t = token.trim();
    if (a && !ID_PATTERN.test(a)) return setError('An account id is letters, digits, ".", "_" or "-" (at most 64), starting with a letter or digit.');
    let fingerprint: string | undefined;
    if (t) {
      if (FINGERPRINT_PATTERN.test(t.toLowerCase())) {
        fingerprint = t.toLowerCase();
        setNote(undefined);
      } else {
        // a pasted token never leaves the page: only its fingerprint is sent
        fingerprint = await tokenFingerprint(t);
        setToken(fingerprint);
        setNote(`That looked like a token, not a fingerprint: its fingerprint ${fingerprint} was computed in this browser and the token was not sent.`);
      }
    } else setNote(undefined);
    setError(undefined);
    onApply({ ...(a ? { account: a } : {}), ...(fingerprint ? { fingerprint } : {}) });
  };
  const clear = () => {
    setAccount('');
    setToken('');
    setNote(undefined);
    setError(undefined);
    onApply({});
  };

  return (
    <form class="filters" onSubmit={apply} noValidate>
      <label class="field">
        <span>Account</span>
        <input value={account} placeholder="any" spellcheck={false} onInput={(e) => setAccount((e.target as HTMLInputElement).value)} />
      </label>
      <label class="field grow">
        <span>Token fingerprint, or paste a leaked token</span>
        <input value={token} placeholder="16 hex characters, or the access token itself" spellcheck={false} autocomplete="off" onInput={(e) => setToken((e.target as HTMLInputElement).value)} data-testid="fingerprint-input" />
      </label>
      <div class="filter-actions">
        <button type="submit" class="button primary">
          Filter
        </button>
        <button type="button" class="button quiet" onClick={clear}>
          Clear
        </button>
      </div>
      <FieldError error={error} />
      {note && (
        <p class="help" role="status" data-testid="fingerprint-note">
          {note}
        </p>
      )}
    </form>
  );
}

/** A refusal, a failure or an account that fell out of linking: what an operator looks for in a trail. */
function needsAttention(e: AuditEvent): boolean {
  return e.action === 'access.denied' || e.action === 'account.reauth' || e.outcome.startsWith('failed') || e.outcome.includes('client_kept');
}
