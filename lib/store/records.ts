import type { Region } from '../config.js';
import type { SecretHash } from './schema.js';

/** What the table holds, as the rest of the broker sees it (no key attributes). */

export type ClientType = 'public' | 'confidential';
export type TokenEndpointAuthMethod = 'none' | 'client_secret_post' | 'client_secret_basic';
export type AccountStatus = 'linked' | 'needs_reauth';

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
