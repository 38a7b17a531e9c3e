import type { Region } from '../config.js';
import type { SecretHash } from './schema.js';

/** What the table holds, as the rest of the broker sees it (no key attributes). */

export type ClientType = 'public' | 'confidential';
export type TokenEndpointAuthMethod = 'none' | 'client_secret_post' | 'client_secret_basic';
export type AccountStatus = 'linked' | 'needs_reauth';
/** `moving`: a region move is under way; `deleting`: the tenant is being removed (CONTRACT.md). */
export type TenantState = 'active' | 'moving' | 'deleting';

export interface TenantRecord {
  tenant: string;
  region: Region;
  /** The issuer the client was registered with; tokens are only ever sent back to it. */
  issuer: string;
  scope: string;
  returnToOrigins: string[];
  clientId: string;
  clientType: ClientType;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  redirectUri: string;
  /** RFC 7592 client configuration endpoint, when the server gave one. */
  registrationClientUri?: string;
  /** Envelope of `{ client_secret }` (confidential clients only), purpose `tenant-client`. */
  sealedClient?: string;
  /** Envelope of `{ registration_access_token }` (RFC 7592), purpose `tenant-client`; opened only to delete the client. */
  sealedRegistration?: string;
  /** RFC 7591 `client_secret_expires_at` (epoch s, 0 = never). */
  clientSecretExpiresAt?: number;
  /** true when the client was imported rather than registered by the broker. */
  imported: boolean;
  createdAt: number;
  updatedAt: number;
  /** The tenant's app confirms each linking (`confirm_links`); absent on tenants registered before it existed: false. */
  confirmLinks?: boolean;
  /** Absent means `active`. Set together with `job`, and cleared when the job ends. */
  state?: TenantState;
  /** The unfinished deletion or region move (lib/broker/tenant-jobs.ts). */
  job?: TenantJob;
  /** The provider refuses the tenant's client and the broker cannot fix it: the operator must act. */
  needsOperator?: { reason: 'invalid_client' | 'client_secret_expired'; since: number };
  /** Epoch s at which the refresher should take the job up (only while `job` is set). */
  dueAt?: number;
}

/** The client a tenant had before a region move: its tokens are revoked and it is deleted (RFC 7592) with these. */
export type PreviousClient = Pick<
  TenantRecord,
  'region' | 'issuer' | 'clientId' | 'clientType' | 'tokenEndpointAuthMethod' | 'registrationClientUri' | 'sealedClient' | 'sealedRegistration'
>;

/**
 * A tenant's deletion or region move as a resumable job: the tenant record carries the step under
 * way and a cursor, every step is idempotent, and a lease names the one process working on it.
 */
export interface TenantJob {
  /** Random: a holder of an earlier job can never write to a later one. */
  id: string;
  kind: 'delete' | 'move';
  /** The step under way, one of the kind's steps (tenant-removal.ts, region-move.ts). */
  step: string;
  /** The last account the step finished (account-id order); absent at the step's start. */
  cursor?: string;
  requestedBy: string;
  startedAt: number;
  /** What the job did so far, for the log and the final audit record. */
  progress: { accounts: number; revoked: number; revocationsPending: number };
  /** Failed attempts of the step under way (a provider that keeps failing a client deletion). */
  attempts: number;
  /** How the client step ended: `deleted`, or `kept:<reason>` (RFC 7592 unavailable, or given up). */
  client?: string;
  /** Move: the client of the region left. */
  previous?: PreviousClient;
  /** Move: the region moved to, for the audit record. */
  toRegion?: string;
  leaseOwner?: string;
  /** ms epoch: the lease lapses then, and another process may take the job up. */
  leaseUntil?: number;
}

/**
 * An RFC 7009 revocation that could not reach the provider, kept for the refresher to try again.
 * It carries copies of the envelopes it needs (each still bound to its own tenant, account and
 * purpose), so it outlives the account, and the tenant, it came from.
 */
export interface PendingRevocation {
  tenant: string;
  account: string;
  generation: number;
  /** Why the token was revoked: an unlink, a re-link, a region move, a tenant deletion. */
  cause: 'unlink' | 'relink' | 'region_move' | 'tenant_delete';
  issuer: string;
  clientId: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  /** Copy of the client's `sealedClient` (confidential clients). */
  sealedClient?: string;
  /** Copy of the account's `sealedTokens`. */
  sealedTokens: string;
  /** Tries so far, the first included (each try may send the request twice, see UPSTREAM_CLEANUP). */
  attempts: number;
  firstFailedAt: number;
  lastError: string;
  /** Epoch s of the next attempt. */
  dueAt: number;
  leaseOwner?: string;
  leaseUntil?: number;
}

/** The last refresher run, as `runRefresher` reported it (one item, overwritten by every run). */
export interface RefresherReportRecord {
  /** ISO time the run ended. */
  at: string;
  due: number;
  refreshed: number;
  skipped: number;
  failed: Record<string, number>;
  durationMs: number;
  stoppedEarly: boolean;
  jobs: { resumed: number; finished: number };
  revocations: { pending: number; revoked: number; givenUp: number };
  lagMedianS?: number;
}

export interface ClientSecrets {
  client_secret?: string;
  registration_access_token?: string;
}

/** A link URL's item, keyed by the hash of its id (the id itself is a capability, never stored). */
export interface LinkRecord {
  tenant: string;
  account: string;
  returnTo?: string;
  createdBy: string;
  /** `createdAt` of the tenant the link was made for: a tenant deleted and made again is another tenant. */
  tenantCreatedAt: number;
  expiresAt: number;
  /** Flows started from this link so far (bounded: see `startFlowFromLink`). */
  flowsStarted?: number;
  /** When a flow from this link completed a linking: a link completes one linking at most. */
  completedAt?: number;
}

/** A started flow, keyed by the hash of its `state`. It holds no secret: the PKCE verifier is derived from the browser's cookie. */
export interface FlowStateRecord {
  /** Hash of the link the flow started from: completing the flow completes that link. */
  linkHash: SecretHash;
  tenant: string;
  account: string;
  returnTo?: string;
  /** SHA-256 of the browser-binding cookie value. */
  browserHash: string;
  redirectUri: string;
  issuer: string;
  createdBy: string;
  tenantCreatedAt: number;
  expiresAt: number;
}

/**
 * A linking that waits for the tenant's confirmation (`confirm_links`), keyed by the hash of its
 * `link_session` id. Its token set is sealed as the account's tokens-to-be and is never served.
 */
export interface LinkSessionRecord {
  tenant: string;
  account: string;
  issuer: string;
  scope: string;
  /** Envelope of {@link AccountTokens}, purpose `account-tokens` of this tenant and account; removed once confirmed or dropped. */
  sealedTokens?: string;
  /** ms epoch: when the access token expires. */
  tokenExpiresAt: number;
  /** The caller that created the link. */
  createdBy: string;
  tenantCreatedAt: number;
  /** ms epoch: the tenant must confirm before this. */
  expiresAt: number;
  confirmedAt?: number;
  confirmedBy?: string;
  /** Attempts to revoke the tokens of an expired session; once set, the session can no longer be confirmed. */
  revocationAttempts?: number;
  /** When the tokens of an expired session were dropped. */
  droppedAt?: number;
}

export interface AccountTokens {
  access_token: string;
  refresh_token?: string;
}

export interface AccountRecord {
  tenant: string;
  account: string;
  status: AccountStatus;
  scope: string;
  issuer: string;
  /** Bumped by every committed token set; the compare-and-set guard of rotation. */
  generation: number;
  /** Envelope of {@link AccountTokens}, purpose `account-tokens`. */
  sealedTokens: string;
  /** ms epoch: computed from the local receipt time plus `expires_in`. */
  expiresAt: number;
  refreshedAt: number;
  linkedAt: number;
  /** Refresh lease: who is refreshing this generation and until when (ms epoch). */
  leaseOwner?: string;
  leaseUntil?: number;
  /** Reason of the last failed refresh (a code, never token material). */
  lastError?: string;
  /** Epoch s at which the scheduled refresher should renew (absent = not scheduled). */
  dueAt?: number;
}
