/**
 * The simulator's public types: how it is started, the faults a test switches on, what it records,
 * and the handle a test drives it through. Importers take them from `longport-simulator.ts`.
 */

/** How a client authenticates at the token and revocation endpoints (RFC 7591 §2). */
export type TokenEndpointAuthMethod = 'none' | 'client_secret_post' | 'client_secret_basic';

/** Grant types LongPort supports. */
export type GrantType = 'authorization_code' | 'refresh_token';

/** Endpoint paths; the broker must read them from discovery, so tests move them around. */
export interface SimulatorPaths {
  authorize: string;
  token: string;
  register: string;
  revoke: string;
  api: string;
}

/** How the simulator is started. Every field is optional. */
export interface SimulatorOptions {
  /** Listen address and host of the issuer URL; default `127.0.0.1`. */
  host?: string;
  /** Listen port; default 0 (a free port). */
  port?: number;
  /** Endpoint paths; defaults `/oauth2/authorize`, `/oauth2/token`, `/oauth2/register`, `/oauth2/revoke`, `/v1/quote/get_security_list`. */
  paths?: Partial<SimulatorPaths>;
  /** Path part of the issuer; default '' (issuer `http://host:port`). Non-empty: RFC 8414 §3.1 path insertion. */
  issuerPath?: string;
  /** What dynamic registration issues; default `public` (only a client_id, auth method `none`). */
  clientType?: 'public' | 'confidential';
  /** Auth method of confidential clients issued by registration; default `client_secret_basic`. */
  confidentialAuthMethod?: 'client_secret_post' | 'client_secret_basic';
  /** Access-token lifetime in seconds; default 3600. */
  accessTokenTtlS?: number;
  /** Prefix of access and refresh tokens, e.g. `us_` (x-dc-region rule); default ''. */
  tokenPrefix?: string;
  /** Milliseconds since the epoch; default `Date.now`. Governs code, link and token expiry. */
  clock?: () => number;
  /** Send RFC 9207 `iss` in authorization responses; default true. */
  sendIss?: boolean;
  /** Serve and advertise an RFC 7009 revocation endpoint; default true. */
  revocation?: boolean;
  /** Issue RFC 7592 registration_access_token / registration_client_uri and serve it; default true. */
  registrationManagement?: boolean;
}

/**
 * Switchable misbehaviour. Mutate `sim.faults` directly or call `sim.setFaults()`; `sim.resetFaults()`
 * clears all of them.
 */
export interface Faults {
  /** Token endpoint answers this status (JSON `server_error` / `temporarily_unavailable`). */
  tokenStatus?: 500 | 502 | 503 | 429;
  /** Retry-After seconds sent with a 429 or 503 `tokenStatus`; default 2. */
  retryAfterS?: number;
  /**
   * How many token requests the token-endpoint faults (tokenStatus, slowMs, malformedJson,
   * dropAfterRotate, dropBeforeProcessing) apply to; then they heal (are deleted). Default: unlimited.
   */
  failCount?: number;
  /** Token endpoint waits this long (real time) before processing; a caller that gave up meanwhile is never processed. */
  slowMs?: number;
  /** Token endpoint answers 200 with a truncated JSON body, without processing the grant. */
  malformedJson?: boolean;
  /** Token endpoint commits the grant (a refresh rotates: the old refresh token is dead), then destroys the socket. */
  dropAfterRotate?: boolean;
  /** Token endpoint destroys the socket without processing anything. */
  dropBeforeProcessing?: boolean;
  /** Refresh-token rotation; default true. false: refresh answers omit refresh_token and the old one stays valid. */
  rotation?: boolean;
  /** Token answers omit expires_in (the token still expires after accessTokenTtlS). */
  omitExpiresIn?: boolean;
  /** Discovery answers this status. */
  discoveryStatus?: number;
  /** Discovery claims this issuer. */
  issuerOverride?: string;
  /** Discovery lists only `plain` in code_challenge_methods_supported. */
  noS256?: boolean;
  /** After login, redirect back with `error=<this>` (and a description holding HTML metacharacters). */
  authorizeError?: string;
  /** Registration endpoint (and the RFC 7592 client URI) answers this status. */
  registrationStatus?: number;
  /** Revocation endpoint answers this status. */
  revocationStatus?: number;
}

/** One request seen by the token endpoint, for assertions. */
export interface TokenRequestRecord {
  grantType: string | null;
  clientId: string | null;
  /** The method the request used (not the one registered). */
  authMethod: TokenEndpointAuthMethod;
  /** The `x-dc-region` header, or null. */
  dcRegion: string | null;
  /** HTTP status answered; 0 when the socket was destroyed instead. */
  status: number;
}

/** A registered client, as the simulator stores it (RFC 7591 metadata names). */
export interface ClientRecord {
  client_id: string;
  client_secret?: string;
  client_name?: string;
  redirect_uris: string[];
  grant_types: GrantType[];
  response_types: string[];
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  client_id_issued_at: number;
  registration_access_token?: string;
}

/** Counters and logs for assertions. Token values appear here (never in logs). */
export interface SimulatorStats {
  registrations: number;
  /** Authorization codes issued. */
  authorizations: number;
  /** Successful authorization_code grants. */
  codeGrants: number;
  /** Successful refresh_token grants. */
  refreshGrants: number;
  /** Refresh-grant requests (successful or not) per presented refresh token. */
  refreshGrantsByToken: Map<string, number>;
  /** Refresh tokens presented after rotation (each revoked its family). */
  reuseDetected: number;
  /** Token values named in accepted revocation requests. */
  revocations: string[];
  /** client_ids deleted through RFC 7592. */
  clientsDeleted: string[];
  apiCalls: number;
  tokenRequests: TokenRequestRecord[];
}

/** A running simulator. */
export interface LongPortSimulator {
  /** The issuer identifier (`url` + issuerPath). */
  issuer: string;
  /** Origin, `http://host:port`. */
  url: string;
  port: number;
  faults: Faults;
  /** Merge these faults into `faults` (a key set to undefined is removed). */
  setFaults(f: Faults): void;
  resetFaults(): void;
  stats: SimulatorStats;
  clients: Map<string, ClientRecord>;
  /** Pre-register a client directly (for "import a pre-registered client" tests). */
  addClient(c: {
    client_id: string;
    client_secret?: string;
    redirect_uris: string[];
    token_endpoint_auth_method: TokenEndpointAuthMethod;
  }): void;
  /** Invalidate every token of every grant family (as if the user revoked access at LongPort). */
  revokeAll(): void;
  /**
   * Issue a grant directly, as if an end user had consented (seeding benchmarks with many linked
   * accounts without a login each). Counts as no code grant.
   */
  seedGrant(clientId: string, scope?: string): { access_token: string; refresh_token: string; expires_in: number };
  /** Stop listening and drop every open connection. */
  close(): Promise<void>;
}
