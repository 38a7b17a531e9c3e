/**
 * The account table, paginated in the page (the broker's list is read whole once, for the
 * timeline): a thousand accounts render as fifty rows at a time, searchable by id, in id or expiry order.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { renewsAround, type Account } from '../../../client/admin-api.js';
import { DataTable, StatusBadge, Time } from './common.js';

export const ROWS_PER_PAGE = 50;

export function AccountTable({ accounts, now, onCreateLink }: { accounts: Account[]; now: number; onCreateLink: (account: string) => void }) {
  const [query, setQuery] = useState('');
  const [order, setOrder] = useState<'account' | 'expiry'>('account');
  const [page, setPage] = useState(0);
  const rows = useMemo(() => {
    const q = query.trim().toLowerCase();
    const matching = q ? accounts.filter((a) => a.account.toLowerCase().includes(q)) : accounts;
    return order === 'expiry' ? [...matching].sort((a, b) => Date.parse(a.expires_at) - Date.parse(b.expires_at)) : matching;
  }, [accounts, query, order]);
  const pages = Math.max(1, Math.ceil(rows.length / ROWS_PER_PAGE));
  useEffect(() => setPage(0), [accounts, query, order]);
  const current = Math.min(page, pages - 1);
  const visible = rows.slice(current * ROWS_PER_PAGE, (current + 1) * ROWS_PER_PAGE);

  return (
    <>
      <div class="toolbar">
        <label class="field">
          <span>Search</span>
          <input type="search" value={query} placeholder="account id" spellcheck={false} onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
        </label>
        <label class="field">
          <span>Order</span>
          <select value={order} onChange={(e) => setOrder((e.target as HTMLSelectElement).value as 'account' | 'expiry')}>
            <option value="account">by account id</option>
            <option value="expiry">soonest expiry first</option>
          </select>
        </label>
      </div>
      {rows.length === 0 ? (
        <p class="empty muted">No account matches.</p>
      ) : (
        <DataTable testId="account-table" columns={['Account', 'Status', 'Token expires', 'Renews around', 'Last refresh', 'Linked', { label: <span class="sr-only">Actions</span> }]}>
          {visible.map((a) => {
            const expires = Date.parse(a.expires_at);
            const renews = renewsAround(a);
            return (
              <tr key={a.account} class={a.status === 'needs_reauth' ? 'row-attention' : undefined}>
                <th scope="row" class="account-id">
                  {a.account}
                </th>
                <td>
                  <StatusBadge status={a.status} />
                </td>
                <td>{a.status === 'linked' ? <Time at={expires} now={now} /> : <span class="muted">not served</span>}</td>
                <td>{renews === undefined ? <span class="muted">not renewed</span> : renews <= now ? <span>due now</span> : <Time at={renews} now={now} />}</td>
                <td>
                  <Time at={Date.parse(a.refreshed_at)} now={now} />
                </td>
                <td>
                  <Time at={Date.parse(a.linked_at)} now={now} />
                </td>
                <td class="actions">
                  <button
                    type="button"
                    class={`button small${a.status === 'needs_reauth' ? ' primary' : ' quiet'}`}
                    onClick={() => onCreateLink(a.account)}
                    aria-label={`Create a link for ${a.account}`}
                  >
                    {a.status === 'needs_reauth' ? 'Create link' : 'Re-link'}
                  </button>
                </td>
              </tr>
            );
          })}
        </DataTable>
      )}
      <nav class="pager" aria-label="Account pages">
        <span class="muted" aria-live="polite">
          {rows.length === 0 ? '0 accounts' : `${(current * ROWS_PER_PAGE + 1).toLocaleString()}–${Math.min(rows.length, (current + 1) * ROWS_PER_PAGE).toLocaleString()} of ${rows.length.toLocaleString()}`}
        </span>
        <button type="button" class="button small" disabled={current === 0} onClick={() => setPage(current - 1)}>
          Previous
        </button>
        <span class="muted">
          page {current + 1} of {pages}
        </span>
        <button type="button" class="button small" disabled={current >= pages - 1} onClick={() => setPage(current + 1)}>
          Next
        </button>
      </nav>
    </>
  );
}
