/** The first page: every tenant with its linked and needs_reauth counts, and the refresher's health. */
import { useState } from 'preact/hooks';
import type { AdminApi, TenantSummary } from '../../../client/admin-api.js';
import { plural } from '../format.js';
import { describeProblem } from '../problem.js';
import type { ConsoleMode } from '../session.js';
import { Card, DataTable, IdForm, ProblemNotice, useLoad } from './common.js';
import { RefresherHealthCard } from './RefresherHealth.js';

interface Props {
  api: AdminApi;
  mode: ConsoleMode;
  onUnauthorized: (note: string) => void;
}

export function Overview({ api, mode, onUnauthorized }: Props) {
  const ctx = { mode, onUnauthorized };
  const [more, setMore] = useState<{ tenants: TenantSummary[]; next?: string | undefined }>({ tenants: [] });
  const [moreProblem, setMoreProblem] = useState<ReturnType<typeof describeProblem>>();
  const first = useLoad(
    async () => {
      setMore({ tenants: [] });
      return api.listTenants({ limit: 100 });
    },
    [api],
    { ...ctx, what: 'list tenants' },
  );
  const tenants = [...(first.data?.tenants ?? []), ...more.tenants];
  const next = more.tenants.length ? more.next : first.data?.next;
  const loadMore = async () => {
    try {
      const page = await api.listTenants({ limit: 100, ...(next ? { cursor: next } : {}) });
      setMore((m) => ({ tenants: [...m.tenants, ...page.tenants], next: page.next }));
      setMoreProblem(undefined);
    } catch (err) {
      setMoreProblem(describeProblem(err, mode, 'list more tenants'));
    }
  };
  const linked = tenants.reduce((n, t) => n + t.accounts.linked, 0);
  const reauth = tenants.reduce((n, t) => n + t.accounts.needs_reauth, 0);

  return (
    <>
      <div class="page-head">
        <h1>Tenants</h1>
        {first.data && (
          <p class="muted" data-testid="tenant-totals">
            {plural(tenants.length, 'tenant')}
            {next ? '+' : ''} · {plural(linked, 'linked account')} ·{' '}
            <span class={reauth ? 'attention' : undefined}>{plural(reauth, 'account needs', 'accounts need')} a new link</span>
          </p>
        )}
      </div>
      <div class="grid-2">
        <Card title="All tenants" id="tenants" actions={<ReloadButton onClick={first.reload} busy={first.loading} />}>
          {first.problem && <ProblemNotice problem={first.problem} onRetry={first.reload} />}
          {first.loading && !first.data && <p class="muted">Loading tenants…</p>}
          {first.data && tenants.length === 0 && (
            <div class="empty">
              <p>
                <strong>No tenants yet.</strong>
              </p>
              <p class="muted">
                A tenant registers its OAuth client with <code>PUT /v1/tenants/&lt;tenant&gt;</code>, or <code>npx longport-token-broker tenants put &lt;tenant&gt; --region global</code>.
              </p>
            </div>
          )}
          {tenants.length > 0 && <TenantTable tenants={tenants} />}
          {moreProblem && <ProblemNotice problem={moreProblem} onRetry={loadMore} compact />}
          {next && (
            <button type="button" class="button" onClick={loadMore}>
              Load more tenants
            </button>
          )}
          <OpenTenant prominent={Boolean(first.problem?.missingRoute)} />
        </Card>
        <RefresherHealthCard api={api} mode={mode} onUnauthorized={onUnauthorized} />
      </div>
    </>
  );
}

function TenantTable({ tenants }: { tenants: TenantSummary[] }) {
  return (
    <DataTable testId="tenant-table" columns={['Tenant', 'Region', 'Client', { label: 'Linked', num: true }, { label: 'Needs new link', num: true }, 'State']}>
      {tenants.map((t) => (
        <tr key={t.tenant} class={t.accounts.needs_reauth ? 'row-attention' : undefined}>
          <th scope="row">
            <a href={`#/tenants/${t.tenant}`}>{t.tenant}</a>
          </th>
          <td>{t.region}</td>
          <td>{t.client_type}</td>
          <td class="num">{t.accounts.linked.toLocaleString()}</td>
          <td class="num">
            {t.accounts.needs_reauth ? (
              <span class="badge status-needs_reauth">
                <span class="badge-icon" aria-hidden="true">
                  ▲
                </span>
                {t.accounts.needs_reauth.toLocaleString()}
              </span>
            ) : (
              <span class="muted">0</span>
            )}
          </td>
          <td>{t.state === 'active' ? <span class="muted">active</span> : <span class="badge state-busy">{t.state}</span>}</td>
        </tr>
      ))}
    </DataTable>
  );
}

/** Opens a tenant by its id: the way in on a broker that cannot list tenants, and a shortcut on any. */
function OpenTenant({ prominent }: { prominent: boolean }) {
  return <IdForm inputId="open-tenant" label="Open a tenant by id" placeholder="acme" button="Open" what="tenant" prominent={prominent} onSubmit={(tenant) => (location.hash = `#/tenants/${tenant}`)} />;
}

export function ReloadButton({ onClick, busy }: { onClick: () => void; busy: boolean }) {
  return (
    <button type="button" class="button quiet small" onClick={onClick} disabled={busy} aria-label="Reload">
      {busy ? 'Loading…' : 'Reload'}
    </button>
  );
}
