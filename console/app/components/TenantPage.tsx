/** One tenant: its settings, the accounts that need a new link, the expiry timeline, the account table, the audit trail. */
import { useMemo, useState } from 'preact/hooks';
import type { Account, AdminApi, Tenant } from '../../../client/admin-api.js';
import { plural } from '../format.js';
import type { ConsoleMode } from '../session.js';
import { AccountTable } from './AccountTable.js';
import { AuditTrail } from './AuditTrail.js';
import { Card, IdForm, ProblemNotice, useLoad, useNow } from './common.js';
import { ExpiryTimeline } from './ExpiryTimeline.js';
import { LinkDialog, type LinkTarget } from './LinkDialog.js';
import { ReloadButton } from './Overview.js';

interface Props {
  api: AdminApi;
  mode: ConsoleMode;
  tenant: string;
  tab: 'accounts' | 'audit';
  onUnauthorized: (note: string) => void;
}

export type StatusFilter = 'all' | 'linked' | 'needs_reauth';

export function TenantPage({ api, mode, tenant, tab, onUnauthorized }: Props) {
  const ctx = { mode, onUnauthorized };
  const info = useLoad(() => api.getTenant(tenant), [api, tenant], { ...ctx, what: 'read the tenant' });
  const [loaded, setLoaded] = useState(0);
  const accounts = useLoad(
    () => {
      setLoaded(0);
      return api.listAllAccounts(tenant, { onPage: setLoaded });
    },
    [api, tenant],
    { ...ctx, what: 'list accounts' },
  );
  const [linkFor, setLinkFor] = useState<LinkTarget>();

  return (
    <>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="#/">Tenants</a> <span aria-hidden="true">/</span> <span aria-current="page">{tenant}</span>
      </nav>
      <div class="page-head">
        <h1>{tenant}</h1>
        {info.data && <TenantBadges t={info.data} />}
      </div>
      {info.problem && <ProblemNotice problem={info.problem} onRetry={info.reload} />}
      {info.data && <TenantFacts t={info.data} />}
      <div class="tabs" role="tablist" aria-label="Tenant views">
        <a role="tab" class="tab" href={`#/tenants/${tenant}`} aria-selected={tab === 'accounts'} aria-controls="panel-accounts">
          Accounts{accounts.data ? ` (${accounts.data.length.toLocaleString()})` : ''}
        </a>
        <a role="tab" class="tab" href={`#/tenants/${tenant}/audit`} aria-selected={tab === 'audit'} aria-controls="panel-audit">
          Audit trail
        </a>
      </div>
      {tab === 'accounts' ? (
        <div id="panel-accounts" role="tabpanel">
          {accounts.problem && <ProblemNotice problem={accounts.problem} onRetry={accounts.reload} />}
          {accounts.loading && !accounts.data && <p class="muted">Loading accounts… {loaded ? loaded.toLocaleString() : ''}</p>}
          {accounts.data && (
            <AccountsView
              accounts={accounts.data}
              reload={accounts.reload}
              loading={accounts.loading}
              onCreateLink={(account) => setLinkFor({ tenant, account })}
              tenantKnown={Boolean(info.data)}
            />
          )}
        </div>
      ) : (
        <div id="panel-audit" role="tabpanel">
          <AuditTrail api={api} mode={mode} tenant={tenant} onUnauthorized={onUnauthorized} />
        </div>
      )}
      {linkFor && <LinkDialog api={api} mode={mode} target={linkFor} onClose={() => setLinkFor(undefined)} />}
    </>
  );
}

function TenantBadges({ t }: { t: Tenant }) {
  return (
    <div class="badges">
      <span class="badge">{t.region}</span>
      <span class="badge">{t.client_type} client</span>
      {t.state && t.state !== 'active' && <span class="badge state-busy">{t.state === 'moving' ? 'moving region' : t.state}</span>}
      {t.confirm_links && <span class="badge">links confirmed by the tenant</span>}
    </div>
  );
}

function TenantFacts({ t }: { t: Tenant }) {
  return (
    <dl class="facts inline-facts">
      <dt>Client id</dt>
      <dd>
        <code>{t.client_id}</code>
      </dd>
      <dt>Redirect URI</dt>
      <dd>
        <code>{t.redirect_uri}</code>
      </dd>
      {t.scope && (
        <>
          <dt>Scope</dt>
          <dd>
            <code>{t.scope}</code>
          </dd>
        </>
      )}
      {t.return_to_origins && (
        <>
          <dt>Return-to origins</dt>
          <dd>{t.return_to_origins.length ? t.return_to_origins.map((o) => <code key={o}>{o}</code>) : <span class="muted">none</span>}</dd>
        </>
      )}
    </dl>
  );
}

function AccountsView({ accounts, reload, loading, onCreateLink, tenantKnown }: { accounts: Account[]; reload: () => void; loading: boolean; onCreateLink: (account: string) => void; tenantKnown: boolean }) {
  const now = useNow();
  const [filter, setFilter] = useState<StatusFilter>('all');
  const counts = useMemo(() => ({ linked: accounts.filter((a) => a.status === 'linked').length, needs_reauth: accounts.filter((a) => a.status === 'needs_reauth').length }), [accounts]);
  const shown = useMemo(() => (filter === 'all' ? accounts : accounts.filter((a) => a.status === filter)), [accounts, filter]);
  const stranded = useMemo(() => accounts.filter((a) => a.status === 'needs_reauth'), [accounts]);

  return (
    <>
      <div class="stats">
        <div class="stat">
          <span class="stat-value" data-testid="count-linked">
            {counts.linked.toLocaleString()}
          </span>
          <span class="stat-label">linked</span>
        </div>
        <div class={`stat${counts.needs_reauth ? ' stat-attention' : ''}`}>
          <span class="stat-value" data-testid="count-needs-reauth">
            {counts.needs_reauth.toLocaleString()}
          </span>
          <span class="stat-label">{counts.needs_reauth ? '▲ ' : ''}need a new link</span>
        </div>
        <div class="stat-actions">
          <ReloadButton onClick={reload} busy={loading} />
        </div>
      </div>

      {stranded.length > 0 && (
        <Card title={`${plural(stranded.length, 'account needs', 'accounts need')} a new link`} id="reauth" class="attention-card">
          <p class="muted">LongPort refused these refresh tokens (the end user revoked access, or the grant expired). Until the end user links again, services get 409 reauth_required.</p>
          <ul class="reauth-list" data-testid="reauth-list">
            {stranded.slice(0, 12).map((a) => (
              <li key={a.account}>
                <span class="account-id">{a.account}</span>
                <button type="button" class="button primary small" onClick={() => onCreateLink(a.account)} aria-label={`Create a link for ${a.account}`}>
                  Create link
                </button>
              </li>
            ))}
          </ul>
          {stranded.length > 12 && (
            <button type="button" class="button small" onClick={() => setFilter('needs_reauth')}>
              Show all {stranded.length.toLocaleString()} in the table
            </button>
          )}
        </Card>
      )}

      {accounts.length === 0 ? (
        <Card>
          <div class="empty">
            <p>
              <strong>No accounts linked yet.</strong>
            </p>
            <p class="muted">{tenantKnown ? 'Create a link below and hand it to an end user: once they sign in at LongPort, the account appears here.' : 'Is the tenant id right?'}</p>
          </div>
          {tenantKnown && <NewLinkForm onCreateLink={onCreateLink} />}
        </Card>
      ) : (
        <>
          <Card title="Token expiry timeline" id="timeline">
            <ExpiryTimeline accounts={shown} now={now} />
          </Card>
          <Card
            title="Accounts"
            id="accounts"
            actions={
              <fieldset class="segmented">
                <legend class="sr-only">Show accounts with status</legend>
                {(['all', 'linked', 'needs_reauth'] as const).map((f) => (
                  <label key={f} class={filter === f ? 'on' : undefined}>
                    <input type="radio" name="status-filter" value={f} checked={filter === f} onChange={() => setFilter(f)} />
                    {f === 'all' ? `All (${accounts.length.toLocaleString()})` : f === 'linked' ? `Linked (${counts.linked.toLocaleString()})` : `Needs new link (${counts.needs_reauth.toLocaleString()})`}
                  </label>
                ))}
              </fieldset>
            }
          >
            <AccountTable accounts={shown} now={now} onCreateLink={onCreateLink} />
            <NewLinkForm onCreateLink={onCreateLink} />
          </Card>
        </>
      )}
    </>
  );
}

/** A link for any account id: a new end user, or a linked account being linked again. */
function NewLinkForm({ onCreateLink }: { onCreateLink: (account: string) => void }) {
  return <IdForm inputId="new-link-account" label="Create a link for an account id" placeholder="user-42" button="Create link" what="account" onSubmit={onCreateLink} />;
}
