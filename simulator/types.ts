/**
 * The simulator's public types: how it is started, the faults a test switches on, what it records,
 * and the handle a test drives it through. Importers take them from `longport-simulator.ts`.
 */

/** How a client authenticates at the token and revocation endpoints (RFC 7591 §2). */
export type TokenEndpointAuthMethod = 'none' | 'client_secret_post' | 'client_secret_basic';

/** Grant types LongPort supports. */
export type GrantType = 'authorization_code' | 'refresh_token';

/**
 * The endpoints, by what they do. `registration` is RFC 7591 registration and the RFC 7592 client
 * configuration endpoint; `authorize` is the authorization endpoint and the login post; `api` is
 * `get_security_list`.
 */
export type SimulatorEndpoint = 'discovery' | 'authorize' | 'token' | 'revocation' | 'registration' | 'api';

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
  /**
   * Lifetime in seconds (by `clock`) of the secrets registration and `rotateClientSecret` issue to
   * confidential clients, stated as `client_secret_expires_at`; an expired secret authenticates no
   * more. Default: secrets never expire (`client_secret_expires_at: 0`).
   */
  clientSecretTtlS?: number;
  /**
   * Every successful RFC 7592 read or update answers a new `registration_access_token`, and the old
   * one stops working at once (RFC 7592 §3 allows it; a client must keep the newest). Default false.
   */
  registrationAccessTokenRotation?: boolean;
}

/**
 * Switchable misbehaviour. Mutate `sim.faults` directly or call `sim.setFaults()`; `sim.resetFaults()`
 * clears all of them.
 */
export interface Faults {
  /** Token endpoint answers this status (JSON `server_error` / `temporarily_unavailable`). */
  tokenStatus?: 500 | 502 | 503 | 429;
  /** Retry-After seconds sent with every simulated 429 or 503 (token, revocation, registration, discovery); default 2. */
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
  /** How many registration requests (RFC 7591 and 7592 together) `registrationStatus` applies to; then both heal. Default: unlimited. */
  registrationFailCount?: number;
  /** Revocation endpoint answers this status. */
  revocationStatus?: number;
  /** How many revocation requests `revocationStatus` applies to; then both heal. Default: unlimited. */
  revocationFailCount?: number;
  /**
   * These endpoints accept the connection and the request, then never answer nor process it. A hung
   * request ends (its socket destroyed, nothing processed) when its endpoint leaves this list through
   * `setFaults`/`resetFaults`, on `takeDown()`, or on `close()`.
   */
  hang?: SimulatorEndpoint[];
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
  /** RFC 7591: when `client_secret` expires, epoch seconds; 0 or absent = never. */
  client_secret_expires_at?: number;
  registration_access_token?: string;
  /** The secret `rotateClientSecret` replaced, still accepted until `acceptedUntilMs` (by `clock`). Simulator-internal. */
  retiredSecret?: { secret: string; acceptedUntilMs: number };
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
  /** client_ids read through RFC 7592 (successful reads only). */
  clientsRead: string[];
  /** client_ids updated through RFC 7592 (successful updates only). */
  clientsUpdated: string[];
  /** Requests routed to each endpoint, whatever their answer (hung, failed and held ones too). */
  requests: Record<SimulatorEndpoint, number>;
  /** Endpoints of the requests the `hang` fault held, in order. */
  hungRequests: SimulatorEndpoint[];
  apiCalls: number;
  tokenRequests: TokenRequestRecord[];
}

/**
 * Where a token request can be held (`holdTokenRequests`):
 * - `received`: read, nothing processed. Released, it is processed and answered, unless its caller's
 *   connection closed meanwhile: then it is never processed.
 * - `processed`: the grant is committed (a code redeemed, a refresh rotated), the answer not sent.
 *   Released, the answer is sent; if the connection closed meanwhile, the answer is lost.
 */
export type HoldPhase = 'received' | 'processed';

/** A token request stopped at a phase, handed to the test by `tokenRequestHeld()`. */
export interface HeldTokenRequest {
  readonly phase: HoldPhase;
  /** The request as `stats.tokenRequests` records it; its `status` is set when the request ends (0: no answer). */
  readonly record: TokenRequestRecord;
  /** Resolves when the caller's connection closes while the request is held (it gave up, its process died, or `drop()`). */
  readonly callerGone: Promise<void>;
  /** Lets the request go on (see `HoldPhase`); resolves with its record once it has ended. */
  release(): Promise<TokenRequestRecord>;
  /** Destroys the connection now (nothing processed at `received`, the answer lost at `processed`); resolves once it has ended. */
  drop(): Promise<TokenRequestRecord>;
}

/** A request the `hang` fault holds, handed to the test by `requestHung()`. */
export interface HungRequest {
  readonly endpoint: SimulatorEndpoint;
  /** Destroys its connection now; it was never processed. */
  drop(): void;
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
    /** Epoch seconds; default 0 (never). */
    client_secret_expires_at?: number;
  }): void;
  /**
   * The provider rotates a confidential client's secret: the new one is current at once (and what an
   * RFC 7592 read answers); the old one stops working at once, or after `graceS` seconds by `clock`.
   * `expiresInS` is the new secret's lifetime (default `clientSecretTtlS`; 0 = never).
   */
  rotateClientSecret(clientId: string, options?: { expiresInS?: number; graceS?: number }): { client_secret: string; client_secret_expires_at: number };
  /** Invalidate every token of every grant family (as if the user revoked access at LongPort). */
  revokeAll(): void;
  /**
   * Issue a grant directly, as if an end user had consented (seeding benchmarks with many linked
   * accounts without a login each). Counts as no code grant.
   */
  seedGrant(clientId: string, scope?: string): { access_token: string; refresh_token: string; expires_in: number };
  /**
   * Hold the next `count` (default 1) token requests, of `grantType` if given, at `phase`. Holds
   * armed for both phases may stop one request twice. The test receives each from `tokenRequestHeld()`.
   */
  holdTokenRequests(phase: HoldPhase, options?: { count?: number; grantType?: GrantType }): void;
  /** Resolves with the oldest held token request not yet handed out, or the next one to be held. */
  tokenRequestHeld(): Promise<HeldTokenRequest>;
  /** Disarms every hold and releases every held token request. */
  releaseHeldTokenRequests(): void;
  /** Resolves with the oldest hung request not yet handed out, or the next one the `hang` fault holds. */
  requestHung(): Promise<HungRequest>;
  /** True while the simulator accepts connections. */
  readonly listening: boolean;
  /**
   * The provider goes down for real: the listener closes and every open connection is destroyed
   * (in-flight requests included), so callers see connection refused or reset. State is kept.
   */
  takeDown(): Promise<void>;
  /** Listens again on the same host and port: the same issuer, with the same clients, grants and faults. */
  bringUp(): Promise<void>;
  /** Stop listening and drop every open connection; releases every hold and hang. Final. */
  close(): Promise<void>;
}
