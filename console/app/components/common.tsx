/** Small pieces every page uses: loading with errors, the problem notice, status badges, times. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { AccountStatus } from '../../../client/admin-api.js';
import { ID_PATTERN } from '../../../client/http.js';
import { exact, relative } from '../format.js';
import { describeProblem, type Problem } from '../problem.js';
import type { ConsoleMode } from '../session.js';

export interface Loaded<T> {
  data: T | undefined;
  problem: Problem | undefined;
  loading: boolean;
  reload(): void;
}

/**
 * Runs `load` now and on `reload()`; a refused credential calls `onUnauthorized`. An answer that
 * arrives after a newer request started is dropped.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], ctx: { mode: ConsoleMode; what: string; onUnauthorized: (note: string) => void }): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; problem: Problem | undefined; loading: boolean }>({ data: undefined, problem: undefined, loading: true });
  const [tick, setTick] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const mine = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === latest.current && setState({ data, problem: undefined, loading: false }),
      (err: unknown) => {
        if (mine !== latest.current) return;
        const problem = describeProblem(err, ctx.mode, ctx.what);
        if (problem.signIn) ctx.onUnauthorized(`${problem.title}. ${problem.detail}`);
        setState((s) => ({ data: s.data, problem, loading: false }));
      },
    );
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** A problem, what to do about it, and a retry (after the broker's `Retry-After`, counted down). */
export function ProblemNotice({ problem, onRetry, compact }: { problem: Problem; onRetry?: () => void; compact?: boolean }) {
  const [left, setLeft] = useState(problem.retryAfterS);
  useEffect(() => {
    setLeft(problem.retryAfterS);
    if (problem.retryAfterS === undefined || !onRetry) return;
    const started = Date.now();
    const timer = setInterval(() => {
      const remaining = Math.ceil(problem.retryAfterS! - (Date.now() - started) / 1000);
      if (remaining <= 0) {
        clearInterval(timer);
        onRetry();
      } else setLeft(remaining);
    }, 250);
    return () => clearInterval(timer);
  }, [problem]);
  return (
    <div class={`alert ${problem.missingRoute ? 'info' : 'error'}${compact ? ' compact' : ''}`} role={problem.missingRoute ? 'status' : 'alert'}>
      <strong>{problem.title}.</strong> {problem.detail}
      {onRetry && (problem.retryable || problem.retryAfterS !== undefined) && (
        <>
          {' '}
          {left !== undefined && left > 0 && <span class="muted">Retrying in {left} s. </span>}
          <button type="button" class="button small" onClick={onRetry}>
            Retry now
          </button>
        </>
      )}
    </div>
  );
}

const STATUS_TEXT: Record<AccountStatus, string> = { linked: 'Linked', needs_reauth: 'Needs new link' };

/** A status as words and a shape, never colour alone. */
export function StatusBadge({ status }: { status: AccountStatus }) {
  return (
    <span class={`badge status-${status}`}>
      <span class="badge-icon" aria-hidden="true">
        {status === 'linked' ? '●' : status === 'needs_reauth' ? '▲' : '■'}
      </span>
      {STATUS_TEXT[status] ?? status}
    </span>
  );
}

/** `in 23 min`, with the exact time on hover and in the markup. */
export function Time({ at, now, prefix }: { at: number | undefined; now: number; prefix?: string }) {
  if (at === undefined || !Number.isFinite(at)) return <span class="muted">—</span>;
  return (
    <time dateTime={new Date(at).toISOString()} title={exact(at)}>
      {prefix}
      {relative(at, now)}
    </time>
  );
}

/** The current time, moving on every `everyMs`, for relative times that stay true. */
export function useNow(everyMs = 15_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

export function Card({ title, children, actions, id, class: cls }: { title?: ComponentChildren; children: ComponentChildren; actions?: ComponentChildren; id?: string; class?: string }) {
  return (
    <section class={`card${cls ? ` ${cls}` : ''}`} aria-labelledby={title && id ? `${id}-title` : undefined}>
      {(title || actions) && (
        <div class="card-head">
          {title && <h2 id={id ? `${id}-title` : undefined}>{title}</h2>}
          {actions && <div class="card-actions">{actions}</div>}
        </div>
      )}
      {children}
    </section>
  );
}

/** A one-field form for a tenant or account id, checked against the contract's pattern before use. */
export function IdForm({ inputId, label, placeholder, button, what, prominent, onSubmit }: { inputId: string; label: string; placeholder: string; button: string; what: 'tenant' | 'account'; prominent?: boolean; onSubmit: (id: string) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();
  const submit = (e: Event) => {
    e.preventDefault();
    const id = value.trim();
    if (!ID_PATTERN.test(id)) return setError(`A ${what} id is letters, digits, ".", "_" or "-" (at most 64), starting with a letter or digit.`);
    setError(undefined);
    onSubmit(id);
  };
  return (
    <form class={`inline-form${prominent ? ' prominent' : ''}`} onSubmit={submit} noValidate>
      <label for={inputId}>{label}</label>
      <div class="row">
        <input id={inputId} value={value} placeholder={placeholder} spellcheck={false} onInput={(e) => setValue((e.target as HTMLInputElement).value)} aria-invalid={error ? true : undefined} />
        <button type="submit" class="button">
          {button}
        </button>
      </div>
      <FieldError error={error} />
    </form>
  );
}

/** What is wrong with a form's input, announced to assistive technology; nothing when all is well. */
export function FieldError({ error }: { error: string | undefined }) {
  return error ? (
    <p class="field-error" role="alert">
      {error}
    </p>
  ) : null;
}

/** A column of a {@link DataTable}: its heading, and `num` for right-aligned numbers. */
export type Column = string | { label: ComponentChildren; num?: boolean };

/** A table of records (tenants, accounts, audit events): one header row from `columns`, the rows as children. */
export function DataTable({ testId, columns, children }: { testId: string; columns: Column[]; children: ComponentChildren }) {
  return (
    <div class="table-wrap">
      <table class="table" data-testid={testId}>
        <thead>
          <tr>
            {columns.map((column, i) =>
              typeof column === 'string' ? (
                <th key={i} scope="col">
                  {column}
                </th>
              ) : (
                <th key={i} scope="col" class={column.num ? 'num' : undefined}>
                  {column.label}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
