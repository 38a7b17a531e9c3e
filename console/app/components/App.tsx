/** The console's shell: sign-in (local mode), the header, and the two pages (overview, tenant). */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { apiFor, keepToken, storedToken, type ConsoleMode } from '../session.js';
import { Overview } from './Overview.js';
import { SignIn } from './SignIn.js';
import { TenantPage } from './TenantPage.js';

/** The page in view, from the URL fragment (`#/tenants/acme`): Back and bookmarks work, and no credential is ever in it. */
type Route = { page: 'overview' } | { page: 'tenant'; tenant: string; tab: 'accounts' | 'audit' };

function routeOf(hash: string): Route {
  const m = /^#\/tenants\/([A-Za-z0-9][A-Za-z0-9._-]{0,63})(\/audit)?$/.exec(hash);
  return m ? { page: 'tenant', tenant: m[1]!, tab: m[2] ? 'audit' : 'accounts' } : { page: 'overview' };
}

export function App({ mode }: { mode: ConsoleMode }) {
  const [token, setToken] = useState<string | undefined>(() => (mode === 'bearer' ? storedToken() : undefined));
  const [signInNote, setSignInNote] = useState<string | undefined>();
  const [route, setRoute] = useState<Route>(() => routeOf(location.hash));
  const api = useMemo(() => apiFor(mode, token), [mode, token]);

  useEffect(() => {
    const onHash = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  // the page title says where the operator is, for tabs and screen readers
  useEffect(() => {
    document.title = route.page === 'tenant' ? `${route.tenant} · Token broker console` : 'Token broker console';
  }, [route]);

  const signOut = (note?: string) => {
    keepToken(undefined);
    setToken(undefined);
    setSignInNote(note);
  };
  /** A refused credential ends the session: the operator signs in again (local mode). */
  const onUnauthorized = (note: string) => {
    if (mode === 'bearer') signOut(note);
  };

  if (mode === 'bearer' && !token)
    return (
      <SignIn
        note={signInNote}
        onSignedIn={(t, keep) => {
          keepToken(keep ? t : undefined);
          setSignInNote(undefined);
          setToken(t);
        }}
      />
    );

  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href="#/">
          <span class="brand-mark" aria-hidden="true" />
          Token broker <span class="brand-sub">console</span>
        </a>
        <span class="origin" title="Every call of this page goes to this origin only">
          {location.host} · {mode === 'proxy' ? 'AWS, signed by npm run console' : 'local mode'}
        </span>
        {mode === 'bearer' && (
          <button type="button" class="button quiet" onClick={() => signOut()}>
            Sign out
          </button>
        )}
      </header>
      <main class="content" id="main">
        {route.page === 'overview' ? (
          <Overview api={api} mode={mode} onUnauthorized={onUnauthorized} />
        ) : (
          <TenantPage key={route.tenant} api={api} mode={mode} tenant={route.tenant} tab={route.tab} onUnauthorized={onUnauthorized} />
        )}
      </main>
    </div>
  );
}
