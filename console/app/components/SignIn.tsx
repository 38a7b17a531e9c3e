/** Local mode: the operator pastes the admin token or an admin key. It stays in this tab. */
import { useState } from 'preact/hooks';
import { BrokerClientError, isMissingRoute } from '../../../client/http.js';
import { apiFor } from '../session.js';

export function SignIn({ note, onSignedIn }: { note: string | undefined; onSignedIn: (token: string, keep: boolean) => void }) {
  const [token, setToken] = useState('');
  const [keep, setKeep] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(note);

  const submit = async (e: Event) => {
    e.preventDefault();
    const value = token.trim();
    if (!value) return setError('Paste the admin token or an admin key first.');
    setBusy(true);
    setError(undefined);
    try {
      await apiFor('bearer', value).listTenants({ limit: 1 });
      onSignedIn(value, keep);
    } catch (err) {
      // an older broker without GET /v1/tenants cannot check the token here: the first tenant call will
      if (isMissingRoute(err)) return onSignedIn(value, keep);
      if (err instanceof BrokerClientError && err.status === 401) setError('The token was refused. Check that it is the whole admin token or a key from BROKER_API_KEYS.');
      else if (err instanceof BrokerClientError && err.status === 403) onSignedIn(value, keep);
      else if (err instanceof BrokerClientError && err.status === 0) setError('The broker cannot be reached. Is it running?');
      else setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="signin">
      <form class="card signin-card" onSubmit={submit} noValidate>
        <h1>
          <span class="brand-mark" aria-hidden="true" /> Token broker console
        </h1>
        <p class="muted">Sign in with the broker's admin token or an admin key.</p>
        <label for="token">Admin token or admin key</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          spellcheck={false}
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          aria-describedby="token-help"
          aria-invalid={error ? true : undefined}
          autofocus
        />
        <p id="token-help" class="help">
          <code>npm start</code> keeps the admin token in <code>.data/admin.token</code>. It is sent only to this broker, and kept in this tab only.
        </p>
        <label class="check">
          <input type="checkbox" checked={keep} onChange={(e) => setKeep((e.target as HTMLInputElement).checked)} /> Keep me signed in until this tab closes (session storage)
        </label>
        {error && (
          <p class="alert error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="button primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
