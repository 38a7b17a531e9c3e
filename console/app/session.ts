/**
 * The console's credential. In local mode the operator's admin token or admin key lives in this
 * tab only: in memory, and in sessionStorage when they ask to keep it across reloads — never in
 * localStorage, a cookie or a URL. Behind `npm run console` the page holds no credential at all.
 */
import { createAdminApi, type AdminApi } from '../../client/admin-api.js';
import { bearerAuthorizer } from '../../client/http.js';

export type ConsoleMode = 'bearer' | 'proxy';

const STORAGE_KEY = 'lpb-console-token';

export function consoleMode(): ConsoleMode {
  return document.querySelector('meta[name="lpb-console-mode"]')?.getAttribute('content') === 'proxy' ? 'proxy' : 'bearer';
}

export function storedToken(): string | undefined {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function keepToken(token: string | undefined): void {
  try {
    if (token === undefined) sessionStorage.removeItem(STORAGE_KEY);
    else sessionStorage.setItem(STORAGE_KEY, token);
  } catch {
    // storage refused (private mode): the token stays in memory only
  }
}

/** The admin API on this page's own origin; retries are the operator's (the page shows a countdown). */
export function apiFor(mode: ConsoleMode, token: string | undefined): AdminApi {
  return createAdminApi({
    baseUrl: location.origin,
    retry: { maxAttempts: 1 },
    // behind the proxy: a header no cross-site form can send, so only this page can drive it
    authorize: mode === 'proxy' ? async (_m, _u, headers) => ({ ...headers, 'x-lpb-console': '1' }) : bearerAuthorizer(token ?? ''),
  });
}
