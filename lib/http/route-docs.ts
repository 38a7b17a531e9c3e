import type { ROUTES, RouteId } from './route-table.js';

/** The prose of one route in the OpenAPI document: a summary, maybe a description, and a line per success answer. */
export interface RouteDocs<Id extends RouteId> {
  summary: string;
  description?: string;
  responses: { [Status in keyof (typeof ROUTES)[Id]['responses']]: string };
}

/**
 * What the OpenAPI document (`openapi.ts`) says of each route of the table, keyed by route id: every
 * route and each of its success answers must have its line (TypeScript refuses a missing one). It
 * lives apart from `route-table.ts` because every function bundles the table and none needs its prose.
 */
export const ROUTE_DOCS: { [Id in RouteId]: RouteDocs<Id> } = {
  putTenant: {
    summary: "Register the tenant's OAuth client (discovery + dynamic registration), or import one; update an existing tenant's settings",
    description:
      'On an existing tenant: `scope` and `return_to_origins` change in place; another `region` needs `"change_region": true` and moves every linked account to needs_reauth, as a job: 200 when it is done within the request, otherwise 202 with `state: "moving"` while the broker finishes it in the background.',
    responses: {
      200: 'Already registered (settings updated, or the region move done)',
      201: 'Registered',
      202: 'Region move under way (`state: "moving"`), finished in the background',
    },
  },
  listTenants: {
    summary: 'The tenants this caller may administer, in tenant-id order, paginated, with their linked and needs_reauth counts',
    description:
      'A key restricted to some tenants lists only those. In AWS only callers granted admin of every tenant reach this route (a grant on some tenants covers their own paths only).',
    responses: { 200: 'A page of tenants; `next` when there is more' },
  },
  getTenant: {
    summary: "The tenant's settings and client (no secret), and its state: active, moving or deleting",
    responses: { 200: 'The tenant' },
  },
  deleteTenant: {
    summary: 'Unlink every account (revoking upstream), delete the OAuth client (RFC 7592 where possible), then the tenant',
    description:
      'A job: 204 when it is done within the request, otherwise 202 `{ state: "deleting" }` while the broker finishes it in the background, resuming after any crash.',
    responses: { 202: 'Deletion under way, finished in the background', 204: 'Deleted' },
  },
  refresherHealth: {
    summary: "The scheduled refresher's last run (due, refreshed, skipped, failed by reason) and its interval; for an admin of every tenant (a broker extension)",
    responses: { 200: 'The last run (absent before the first one) and the seconds between runs' },
  },
  createLink: {
    summary: 'Create a link URL (10 minutes) for the end user; it completes one linking at most',
    responses: { 201: 'Link created' },
  },
  confirmLink: {
    summary: "Confirm a linking (confirm_links): the tenant's app, having checked that its signed-in user is {account}, links the account",
    description:
      'For a tenant registered with `"confirm_links": true`, the callback ends at `return_to?status=confirm&account=…&link_session=…`; this links the account. 404: unknown or expired session (after 10 minutes its tokens are revoked upstream and dropped); 409: already confirmed, or made for another account.',
    responses: { 200: 'Linked: the account as in the account list' },
  },
  getToken: {
    summary: 'A valid access token with at least min_ttl seconds left, refreshed first when needed',
    responses: { 200: 'A valid access token (never the refresh token); Cache-Control: no-store' },
  },
  refreshToken: {
    summary: 'Force a refresh now; same answer as token',
    responses: { 200: 'A freshly refreshed access token (never the refresh token); Cache-Control: no-store' },
  },
  listAccounts: {
    summary: "The tenant's accounts in account-id order, paginated (no token material)",
    responses: { 200: 'A page of accounts; `next` when there is more' },
  },
  getAccount: {
    summary: 'One account (no token material)',
    responses: { 200: 'The account' },
  },
  unlinkAccount: {
    summary: 'Unlink: revoke the refresh token upstream (RFC 7009) where possible, then delete every stored token',
    responses: { 204: 'Unlinked (also when the provider could not revoke; the audit trail and the AccountUnlinked event say which)' },
  },
  readAudit: {
    summary: "The tenant's audit trail, newest first: tenant changes, links, token reads (by exposure, with counts), refreshes, reauths, unlinks, denied requests",
    responses: { 200: 'A page of events, newest first; `next` when there may be more. Each page costs a bounded number of store reads, whatever the filter' },
  },
  authorize: {
    summary: "End user's browser: redirects to the provider's authorization endpoint for a link",
    responses: { 302: 'To the discovered authorization_endpoint with state and an S256 challenge; sets the flow cookie' },
  },
  callback: {
    summary: "End user's browser: the provider's redirect back; stores the tokens",
    responses: {
      200: 'Account linked',
      303: 'To return_to?status=linked&account=…, return_to?status=confirm&account=…&link_session=… (confirm_links), or return_to?status=error&error=…',
    },
  },
  health: {
    summary: 'Liveness',
    responses: { 200: 'Alive' },
  },
  openApi: {
    summary: 'This OpenAPI 3.1 document',
    responses: { 200: 'The OpenAPI 3.1 document of this API' },
  },
};
