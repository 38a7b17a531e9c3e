/** The admin operations for Node callers (the CLI, a tenant backend): {@link createAdminApi} with a bearer key or SigV4. */
import { createAdminApi, type AdminApi } from './admin-api.js';
import { authorizer, type BearerAuth, type SigV4Auth } from './auth.js';
import type { RetryPolicy } from './http.js';

export interface AdminClientOptions {
  /** The broker's base URL, with the API Gateway stage if any: `https://abc.execute-api.eu-west-1.amazonaws.com/prod`. */
  baseUrl: string;
  auth: BearerAuth | SigV4Auth;
  fetch?: typeof globalThis.fetch;
  /** Milliseconds since the epoch; SigV4 signs at this time. Defaults to `Date.now`. */
  clock?: () => number;
  retry?: RetryPolicy;
}

/**
 * A client for the admin routes.
 *
 * @example
 * const admin = createAdminClient({ baseUrl: process.env.BROKER_URL!, auth: { type: 'sigv4', region: 'eu-west-1' } });
 * const { link_url } = await admin.createLink('acme', 'alice');
 */
export function createAdminClient(options: AdminClientOptions): AdminApi {
  const clock = options.clock ?? Date.now;
  return createAdminApi({ baseUrl: options.baseUrl, authorize: authorizer(options.auth, clock), clock, ...(options.fetch ? { fetch: options.fetch } : {}), ...(options.retry ? { retry: options.retry } : {}) });
}
