/** What a failed call means to the operator, and what to do next. */
import { BrokerClientError, isMissingRoute } from '../../client/http.js';
import type { ConsoleMode } from './session.js';

export interface Problem {
  title: string;
  detail: string;
  /** The credential was refused: sign in again. */
  signIn?: boolean;
  /** Seconds after which a retry may work (503/429), when the broker said. */
  retryAfterS?: number;
  /** A retry may work (network, 5xx). */
  retryable?: boolean;
  /** This broker is older than the console: the route does not exist. */
  missingRoute?: boolean;
}

export function describeProblem(err: unknown, mode: ConsoleMode, what: string): Problem {
  if (!(err instanceof BrokerClientError)) return { title: `Could not ${what}`, detail: err instanceof Error ? err.message : String(err), retryable: true };
  const detail = err.description;
  if (err.status === 0) return { title: 'The broker cannot be reached', detail: `${detail}. Is it running?`, retryable: true };
  if (isMissingRoute(err)) return { title: 'Not offered by this broker', detail: `This broker is older than the console and cannot ${what} (${detail}).`, missingRoute: true };
  switch (err.status) {
    case 401:
      return mode === 'proxy'
        ? { title: 'The console session has ended', detail: 'Open the URL that `npm run console` printed again (restart it for a new one).', signIn: true }
        : { title: 'The token was refused', detail: 'Sign in again with the admin token (in .data/admin.token) or an admin key from BROKER_API_KEYS.', signIn: true };
    case 403:
      return mode === 'proxy'
        ? { title: 'Your AWS identity may not do this', detail: `${detail}. Ask for an IAM grant (the stack's grantAdmin) for this tenant.` }
        : { title: 'This key may not do this', detail: `${detail}. An admin key only reaches its own tenants; the admin token reaches all.` };
    case 404:
      return { title: 'Not found', detail };
    case 409:
      return { title: err.error === 'reauth_required' ? 'The end user must link again' : 'Conflict', detail };
    case 429:
    case 503:
      return { title: 'The broker is temporarily unavailable', detail, ...(err.retryAfterS !== undefined ? { retryAfterS: Math.min(60, err.retryAfterS) } : {}), retryable: true };
    default:
      return { title: `Could not ${what}`, detail: `HTTP ${err.status} ${err.error}: ${detail}`, retryable: err.status >= 500 };
  }
}
