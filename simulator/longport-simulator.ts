/**
 * A local LongPort OAuth 2.0 authorization server, strict where the RFCs are strict, with faults that
 * tests switch on and off at runtime.
 *
 * It speaks what CONTRACT.md ("Upstream: LongPort OAuth 2.0") says LongPort documents:
 * RFC 8414 discovery, RFC 7591/7592 dynamic registration, the authorization-code grant with PKCE S256
 * (RFC 6749 §4.1, RFC 7636), rotating refresh tokens with reuse detection, RFC 9207 `iss`, RFC 7009
 * revocation, and one OpenAPI call (`get_security_list`) that answers 401003 for an expired token.
 *
 * Everything lives in memory; time comes from the injected clock so tests expire tokens without
 * sleeping. Token values are never logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// ─── Public types ────────────────────────────────────────────────────────────────────────────────

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

// ─── Constants ───────────────────────────────────────────────────────────────────────────────────

const DEFAULT_PATHS: SimulatorPaths = {
  authorize: '/oauth2/authorize',
  token: '/oauth2/token',
  register: '/oauth2/register',
  revoke: '/oauth2/revoke',
  api: '/v1/quote/get_security_list',
};
/** Where the login page posts to. */
const LOGIN_PATH = '/login';
const WELL_KNOWN = '/.well-known/oauth-authorization-server';
const SCOPES_SUPPORTED = ['3'];
const DEFAULT_SCOPE = '3';
const AUTH_METHODS: TokenEndpointAuthMethod[] = ['none', 'client_secret_post', 'client_secret_basic'];
const GRANT_TYPES: GrantType[] = ['authorization_code', 'refresh_token'];
const CODE_TTL_MS = 60_000;
const LOGIN_TTL_MS = 10 * 60_000;
const MAX_BODY_BYTES = 64 * 1024;
/** RFC 7636 §4.1: 43–128 unreserved characters. */
const CODE_VERIFIER_RE = /^[A-Za-z0-9\-._~]{43,128}$/;
/** BASE64URL(SHA-256) is always 43 characters. */
const S256_CHALLENGE_RE = /^[A-Za-z0-9_-]{43}$/;
const SECURITY_LIST = [
  { symbol: 'AAPL.US', name_cn: '苹果', name_hk: '蘋果', name_en: 'Apple Inc.' },
  { symbol: 'MSFT.US', name_cn: '微软', name_hk: '微軟', name_en: 'Microsoft Corporation' },
  { symbol: 'TSLA.US', name_cn: '特斯拉', name_hk: '特斯拉', name_en: 'Tesla, Inc.' },
];
/** Faults of the token endpoint that `failCount` limits. */
const HEALING_FAULTS = ['tokenStatus', 'slowMs', 'malformedJson', 'dropAfterRotate', 'dropBeforeProcessing'] as const;

// ─── Errors ──────────────────────────────────────────────────────────────────────────────────────

/** An OAuth error answer: `{ error, error_description }` (RFC 6749 §5.2, RFC 7591 §3.2.2). */
class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${error}: ${description}`);
  }
}

const invalidRequest = (d: string) => new OAuthError(400, 'invalid_request', d);
const invalidGrant = (d: string) => new OAuthError(400, 'invalid_grant', d);
const invalidClientMetadata = (d: string) => new OAuthError(400, 'invalid_client_metadata', d);
/** RFC 6749 §5.2: 401 and a WWW-Authenticate challenge for failed client authentication. */
const invalidClient = (d: string) =>
  new OAuthError(401, 'invalid_client', d, { 'WWW-Authenticate': 'Basic realm="longport-simulator"' });

/** The OAuth error code a simulated upstream failure status carries. */
function errorCodeForStatus(status: number): string {
  if (status === 429 || status === 503) return 'temporarily_unavailable';
  if (status >= 500) return 'server_error';
  if (status === 401) return 'invalid_client';
  return 'invalid_request';
}

// ─── In-memory state ─────────────────────────────────────────────────────────────────────────────

/** An authorization request waiting for the login form to be posted. */
interface PendingLogin {
  clientId: string;
  redirectUri: string;
  state: string | null;
  scope: string;
  codeChallenge: string;
  expiresAt: number;
}

/** An authorization code and what it is bound to. */
interface CodeRecord {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
  expiresAt: number;
  used: boolean;
  /** The grant family the code produced, revoked if the code is replayed. */
  familyId: string | null;
}

/** All tokens descending from one authorization code. */
interface Family {
  id: string;
  clientId: string;
  scope: string;
  currentRefreshToken: string;
  accessTokens: Set<string>;
  revoked: boolean;
}

interface AccessTokenRecord {
  familyId: string;
  expiresAt: number;
  revoked: boolean;
}

// ─── HTTP helpers ────────────────────────────────────────────────────────────────────────────────

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendOAuthError(res: ServerResponse, err: OAuthError): void {
  sendJson(res, err.status, { error: err.error, error_description: err.description }, { ...NO_STORE, ...err.headers });
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
    ...NO_STORE,
  });
  res.end(html);
}

function redirect(res: ServerResponse, status: 302 | 303, location: string): void {
  res.writeHead(status, { Location: location, 'Content-Length': 0, ...NO_STORE });
  res.end();
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function errorPage(res: ServerResponse, status: number, message: string): void {
  sendHtml(
    res,
    status,
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>LongPort: authorization error</title></head>` +
      `<body><h1>Authorization error</h1><p>${escapeHtml(message)}</p></body></html>`,
  );
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new OAuthError(413, 'invalid_request', 'request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** RFC 6749 §3.2 and §3.1: form-encoded body, no parameter more than once. */
function parseForm(req: IncomingMessage, body: string): URLSearchParams {
  if (mediaType(req) !== 'application/x-www-form-urlencoded') {
    throw invalidRequest('content type must be application/x-www-form-urlencoded');
  }
  const params = new URLSearchParams(body);
  rejectDuplicates(params);
  return params;
}

function rejectDuplicates(params: URLSearchParams): void {
  for (const key of new Set(params.keys())) {
    if (params.getAll(key).length > 1) throw invalidRequest(`parameter ${key} is repeated`);
  }
}

/** Credentials from `Authorization: Basic`, each half form-decoded (RFC 6749 §2.3.1). */
function parseBasic(header: string): { id: string; secret: string } {
  const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header);
  if (!match) throw invalidClient('unsupported or malformed Authorization header');
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidClient('malformed Basic credentials');
  try {
    const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw invalidClient('Basic credentials are not form-encoded');
  }
}

function bearerToken(req: IncomingMessage): string | null {
  const match = /^Bearer +([^\s]+) *$/i.exec(req.headers.authorization ?? '');
  return match ? match[1]! : null;
}

/** Compares secrets in constant time, whatever their lengths. */
function secretsEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

function random(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}

function headerValue(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? (v[0] ?? null) : null;
}

/** A malformed escape just names no client. */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '';
  }
}

function normalizePath(p: string): string {
  const withSlash = p.startsWith('/') ? p : `/${p}`;
  return withSlash.length > 1 ? withSlash.replace(/\/+$/, '') : withSlash;
}

// ─── The server ──────────────────────────────────────────────────────────────────────────────────

class Simulator implements LongPortSimulator {
  issuer = '';
  url = '';
  port = 0;
  readonly faults: Faults = {};
  readonly stats: SimulatorStats = {
    registrations: 0,
    authorizations: 0,
    codeGrants: 0,
    refreshGrants: 0,
    refreshGrantsByToken: new Map(),
    reuseDetected: 0,
    revocations: [],
    clientsDeleted: [],
    apiCalls: 0,
    tokenRequests: [],
  };
  readonly clients = new Map<string, ClientRecord>();

  private readonly paths: SimulatorPaths;
  private readonly issuerPath: string;
  private readonly clock: () => number;
  private readonly logins = new Map<string, PendingLogin>();
  private readonly codes = new Map<string, CodeRecord>();
  private readonly families = new Map<string, Family>();
  private readonly accessTokens = new Map<string, AccessTokenRecord>();
  /** Every refresh token ever issued, current or rotated, mapped to its family (reuse detection). */
  private readonly refreshTokens = new Map<string, string>();
  /** Wake-ups of slowMs waits, fired on close so no handler outlives the server. */
  private readonly pendingDelays = new Set<() => void>();
  private readonly server: Server;

  constructor(private readonly opts: SimulatorOptions) {
    this.paths = { ...DEFAULT_PATHS, ...opts.paths };
    for (const k of Object.keys(this.paths) as (keyof SimulatorPaths)[]) this.paths[k] = normalizePath(this.paths[k]);
    this.issuerPath = opts.issuerPath ? normalizePath(opts.issuerPath) : '';
    if (this.issuerPath === '/') this.issuerPath = '';
    this.clock = opts.clock ?? Date.now;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => {
        // Never echo internals (or tokens) anywhere; the caller just sees a server_error.
        if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: 'server_error' });
        else res.destroy();
      });
    });
  }

  async listen(): Promise<void> {
    const host = this.opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
    this.issuer = this.url + this.issuerPath;
  }

  // ── Public controls ──

  setFaults(f: Faults): void {
    for (const [k, v] of Object.entries(f) as [keyof Faults, unknown][]) {
      if (v === undefined) delete this.faults[k];
      else (this.faults as Record<string, unknown>)[k] = v;
    }
  }

  resetFaults(): void {
    for (const k of Object.keys(this.faults) as (keyof Faults)[]) delete this.faults[k];
  }

  addClient(c: Parameters<LongPortSimulator['addClient']>[0]): void {
    if (c.token_endpoint_auth_method !== 'none' && !c.client_secret) {
      throw new Error(`a ${c.token_endpoint_auth_method} client needs a client_secret`);
    }
    this.clients.set(c.client_id, {
      client_id: c.client_id,
      ...(c.client_secret !== undefined && c.token_endpoint_auth_method !== 'none' ? { client_secret: c.client_secret } : {}),
      redirect_uris: [...c.redirect_uris],
      grant_types: [...GRANT_TYPES],
      response_types: ['code'],
      token_endpoint_auth_method: c.token_endpoint_auth_method,
      client_id_issued_at: Math.floor(this.clock() / 1000),
    });
  }

  revokeAll(): void {
    for (const family of this.families.values()) this.revokeFamily(family);
  }

  seedGrant(clientId: string, scope = '3'): { access_token: string; refresh_token: string; expires_in: number } {
    if (!this.clients.has(clientId)) throw new Error(`seedGrant: unknown client ${clientId}`);
    const family: Family = { id: random(12), clientId, scope, currentRefreshToken: '', accessTokens: new Set(), revoked: false };
    this.families.set(family.id, family);
    const issued = this.issueTokens(family, true);
    return { access_token: issued.access_token as string, refresh_token: issued.refresh_token as string, expires_in: this.opts.accessTokenTtlS ?? 3600 };
  }

  async close(): Promise<void> {
    for (const wake of this.pendingDelays) wake();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Keep-alive sockets would otherwise hold close() open (and vitest with it).
    this.server.closeAllConnections();
    await closed;
  }

  // ── Routing ──

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const route = (allowed: string, handler: () => Promise<void> | void): Promise<void> | void => {
      if (method === allowed) return handler();
      sendJson(res, 405, { error: 'invalid_request', error_description: `use ${allowed}` }, { Allow: allowed });
    };
    try {
      if (path === WELL_KNOWN + this.issuerPath) return await route('GET', () => this.discovery(res));
      if (path === this.paths.authorize) return await route('GET', () => this.authorize(url, res));
      if (path === LOGIN_PATH) return await route('POST', () => this.login(req, res));
      if (path === this.paths.token) return await route('POST', () => this.token(req, res));
      if (path === this.paths.register) return await route('POST', () => this.register(req, res));
      if (this.opts.registrationManagement !== false && path.startsWith(`${this.paths.register}/`)) {
        return await this.manageClient(req, res, safeDecode(path.slice(this.paths.register.length + 1)));
      }
      if (path === this.paths.revoke && this.opts.revocation !== false) {
        return await route('POST', () => this.revoke(req, res));
      }
      if (path === this.paths.api) return await route('GET', () => this.api(req, res));
      sendJson(res, 404, { error: 'not_found', error_description: `no route for ${path}` });
    } catch (err) {
      if (err instanceof OAuthError) return sendOAuthError(res, err);
      throw err;
    }
  }

  // ── Discovery (RFC 8414) ──

  private discovery(res: ServerResponse): void {
    const f = this.faults;
    if (f.discoveryStatus !== undefined) {
      return sendJson(res, f.discoveryStatus, { error: errorCodeForStatus(f.discoveryStatus), error_description: 'simulated discovery failure' });
    }
    const at = (p: string) => this.url + p;
    sendJson(res, 200, {
      issuer: f.issuerOverride ?? this.issuer,
      authorization_endpoint: at(this.paths.authorize),
      token_endpoint: at(this.paths.token),
      registration_endpoint: at(this.paths.register),
      ...(this.opts.revocation !== false
        ? { revocation_endpoint: at(this.paths.revoke), revocation_endpoint_auth_methods_supported: AUTH_METHODS }
        : {}),
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: GRANT_TYPES,
      code_challenge_methods_supported: f.noS256 ? ['plain'] : ['S256'],
      token_endpoint_auth_methods_supported: AUTH_METHODS,
      authorization_response_iss_parameter_supported: this.opts.sendIss !== false,
      scopes_supported: SCOPES_SUPPORTED,
    });
  }

  // ── Dynamic client registration (RFC 7591) and management (RFC 7592) ──

  private async register(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (this.faults.registrationStatus !== undefined) return this.simulatedFailure(res, this.faults.registrationStatus);
    if (mediaType(req) !== 'application/json') throw invalidClientMetadata('content type must be application/json');
    let meta: unknown;
    try {
      meta = JSON.parse(body);
    } catch {
      throw invalidClientMetadata('body is not JSON');
    }
    if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw invalidClientMetadata('body must be a JSON object');
    const m = meta as Record<string, unknown>;

    const redirectUris = m.redirect_uris;
    if (!Array.isArray(redirectUris) || redirectUris.length === 0) {
      throw new OAuthError(400, 'invalid_redirect_uri', 'redirect_uris must be a non-empty array');
    }
    for (const uri of redirectUris) assertRedirectUri(uri);

    // RFC 7591 §2: grant_types defaults to authorization_code, response_types to code.
    const grantTypes = stringArray(m.grant_types, 'grant_types') ?? ['authorization_code'];
    const responseTypes = stringArray(m.response_types, 'response_types') ?? ['code'];
    const unknownGrant = grantTypes.find((g) => !(GRANT_TYPES as string[]).includes(g));
    if (unknownGrant !== undefined) throw invalidClientMetadata(`unsupported grant type ${unknownGrant}`);
    const unknownResponse = responseTypes.find((r) => r !== 'code');
    if (unknownResponse !== undefined) throw invalidClientMetadata(`unsupported response type ${unknownResponse}`);
    // RFC 7591 §2.1: response type `code` goes with grant type `authorization_code`, both ways.
    if (responseTypes.includes('code') !== grantTypes.includes('authorization_code')) {
      throw invalidClientMetadata('response_types [code] requires grant_types authorization_code and vice versa');
    }
    if (m.client_name !== undefined && typeof m.client_name !== 'string') throw invalidClientMetadata('client_name must be a string');
    if (m.token_endpoint_auth_method !== undefined && !AUTH_METHODS.includes(m.token_endpoint_auth_method as TokenEndpointAuthMethod)) {
      throw invalidClientMetadata('unsupported token_endpoint_auth_method');
    }
    if (m.scope !== undefined && (typeof m.scope !== 'string' || !scopeSupported(m.scope))) {
      throw new OAuthError(400, 'invalid_client_metadata', 'unsupported scope');
    }

    // RFC 7591 §3.2.1: the server decides the auth method; the answer states it and the client must honour it.
    const confidential = this.opts.clientType === 'confidential';
    const authMethod: TokenEndpointAuthMethod = confidential ? (this.opts.confidentialAuthMethod ?? 'client_secret_basic') : 'none';
    const client: ClientRecord = {
      client_id: `lp_${random(12)}`,
      ...(typeof m.client_name === 'string' ? { client_name: m.client_name } : {}),
      redirect_uris: redirectUris as string[],
      grant_types: [...new Set(grantTypes)] as GrantType[],
      response_types: [...new Set(responseTypes)],
      token_endpoint_auth_method: authMethod,
      client_id_issued_at: Math.floor(this.clock() / 1000),
      // Standard base64 on purpose: `+ / =` must survive the RFC 6749 §2.3.1 form-encoding of Basic credentials.
      ...(confidential ? { client_secret: randomBytes(24).toString('base64') } : {}),
      ...(this.opts.registrationManagement !== false ? { registration_access_token: random() } : {}),
    };
    this.clients.set(client.client_id, client);
    this.stats.registrations += 1;
    sendJson(res, 201, this.clientInformation(client), NO_STORE);
  }

  /** The RFC 7591 §3.2.1 client information response. */
  private clientInformation(c: ClientRecord): Record<string, unknown> {
    return {
      client_id: c.client_id,
      ...(c.client_name !== undefined ? { client_name: c.client_name } : {}),
      redirect_uris: c.redirect_uris,
      grant_types: c.grant_types,
      response_types: c.response_types,
      token_endpoint_auth_method: c.token_endpoint_auth_method,
      client_id_issued_at: c.client_id_issued_at,
      ...(c.client_secret !== undefined ? { client_secret: c.client_secret, client_secret_expires_at: 0 } : {}),
      ...(c.registration_access_token !== undefined
        ? {
            registration_access_token: c.registration_access_token,
            registration_client_uri: `${this.url}${this.paths.register}/${encodeURIComponent(c.client_id)}`,
          }
        : {}),
    };
  }

  /** RFC 7592: GET reads, DELETE deletes, both with the registration access token. */
  private async manageClient(req: IncomingMessage, res: ServerResponse, clientId: string): Promise<void> {
    await readBody(req);
    if (req.method !== 'GET' && req.method !== 'DELETE') {
      return sendJson(res, 405, { error: 'invalid_request', error_description: 'use GET or DELETE' }, { Allow: 'GET, DELETE' });
    }
    if (this.faults.registrationStatus !== undefined) return this.simulatedFailure(res, this.faults.registrationStatus);
    const client = this.clients.get(clientId);
    const presented = bearerToken(req);
    // RFC 7592 §2: an unknown client and a wrong token look the same (401), so client ids cannot be probed.
    if (!client?.registration_access_token || presented === null || !secretsEqual(presented, client.registration_access_token)) {
      return sendJson(res, 401, { error: 'invalid_token', error_description: 'registration access token required' }, {
        'WWW-Authenticate': 'Bearer error="invalid_token"',
        ...NO_STORE,
      });
    }
    if (req.method === 'GET') return sendJson(res, 200, this.clientInformation(client), NO_STORE);
    // RFC 7592 §2.3: deleting a client invalidates its grants and tokens.
    this.clients.delete(clientId);
    for (const family of this.families.values()) if (family.clientId === clientId) this.revokeFamily(family);
    for (const [code, rec] of this.codes) if (rec.clientId === clientId) this.codes.delete(code);
    this.stats.clientsDeleted.push(clientId);
    res.writeHead(204, NO_STORE);
    res.end();
  }

  // ── Authorization endpoint (RFC 6749 §4.1.1, RFC 7636 §4.3) and the login page ──

  private authorize(url: URL, res: ServerResponse): void {
    const q = url.searchParams;
    // RFC 6749 §4.1.2.1: with a bad client or redirect URI the user is told, never redirected.
    if (q.getAll('client_id').length > 1 || q.getAll('redirect_uri').length > 1) {
      return errorPage(res, 400, 'client_id and redirect_uri may appear only once.');
    }
    const client = this.clients.get(q.get('client_id') ?? '');
    if (!client) return errorPage(res, 400, 'Unknown client_id.');
    const redirectUri = q.get('redirect_uri');
    // Exact string match against the registered URIs (RFC 6749 §3.1.2.3).
    if (redirectUri === null || !client.redirect_uris.includes(redirectUri)) {
      return errorPage(res, 400, 'redirect_uri is missing or not registered for this client.');
    }

    const state = q.get('state');
    const fail = (error: string, description: string) =>
      redirect(res, 302, this.authorizationResponse(redirectUri, { error, error_description: description }, state));
    try {
      rejectDuplicates(q);
    } catch (err) {
      return fail('invalid_request', (err as OAuthError).description);
    }
    const responseType = q.get('response_type');
    if (responseType === null) return fail('invalid_request', 'response_type is required');
    if (responseType !== 'code' || !client.response_types.includes('code')) {
      return fail('unsupported_response_type', 'only response_type=code is supported');
    }
    // RFC 7636 §4.4.1: PKCE is mandatory here, and only S256 (a missing method means plain).
    const challenge = q.get('code_challenge');
    if (challenge === null) return fail('invalid_request', 'code_challenge is required');
    if (q.get('code_challenge_method') !== 'S256') return fail('invalid_request', 'transform algorithm not supported: use S256');
    if (!S256_CHALLENGE_RE.test(challenge)) return fail('invalid_request', 'code_challenge is not a BASE64URL SHA-256 value');
    const scope = q.get('scope') ?? DEFAULT_SCOPE;
    if (!scopeSupported(scope)) return fail('invalid_scope', 'unsupported scope');

    const loginId = random();
    this.logins.set(loginId, {
      clientId: client.client_id,
      redirectUri,
      state,
      scope,
      codeChallenge: challenge,
      expiresAt: this.clock() + LOGIN_TTL_MS,
    });
    sendHtml(res, 200, this.loginPage(loginId, client, scope));
  }

  /**
   * LongPort's login page stands in for the real one: a form that posts back to this server and
   * submits itself, so a browser sees the same cross-site POST-then-redirect as in production.
   */
  private loginPage(loginId: string, client: ClientRecord, scope: string): string {
    return [
      '<!doctype html>',
      '<html lang="en"><head><meta charset="utf-8"><title>LongPort login</title></head><body>',
      '<h1>LongPort login</h1>',
      `<p>Simulated sign-in: <strong>${escapeHtml(client.client_name ?? client.client_id)}</strong> asks for scope ${escapeHtml(scope)}.</p>`,
      `<form method="POST" action="${escapeHtml(this.url + LOGIN_PATH)}">`,
      `<input type="hidden" name="login_id" value="${escapeHtml(loginId)}">`,
      '<button type="submit">Log in and authorize</button>',
      '</form>',
      '<script>document.forms[0].submit()</script>',
      '</body></html>',
    ].join('\n');
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    let params: URLSearchParams;
    try {
      params = parseForm(req, body);
    } catch {
      return errorPage(res, 400, 'Malformed login form.');
    }
    const loginId = params.get('login_id') ?? '';
    const pending = this.logins.get(loginId);
    // The login form is single-use and short-lived, like a real login session.
    this.logins.delete(loginId);
    if (!pending || pending.expiresAt <= this.clock()) return errorPage(res, 400, 'This login session has expired; start again.');
    if (!this.clients.has(pending.clientId)) return errorPage(res, 400, 'Unknown client_id.');

    if (this.faults.authorizeError !== undefined) {
      const description = 'The user denied access <script>alert("longport")</script> & "left"';
      return redirect(res, 303, this.authorizationResponse(pending.redirectUri, { error: this.faults.authorizeError, error_description: description }, pending.state));
    }
    const code = random(32);
    this.codes.set(code, {
      clientId: pending.clientId,
      redirectUri: pending.redirectUri,
      codeChallenge: pending.codeChallenge,
      scope: pending.scope,
      expiresAt: this.clock() + CODE_TTL_MS,
      used: false,
      familyId: null,
    });
    this.stats.authorizations += 1;
    redirect(res, 303, this.authorizationResponse(pending.redirectUri, { code }, pending.state));
  }

  /** The redirect back to the client: its query kept (RFC 6749 §3.1.2), state echoed, iss per RFC 9207 §2. */
  private authorizationResponse(redirectUri: string, params: Record<string, string>, state: string | null): string {
    const target = new URL(redirectUri);
    for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
    if (state !== null) target.searchParams.set('state', state);
    if (this.opts.sendIss !== false) target.searchParams.set('iss', this.issuer);
    return target.toString();
  }

  // ── Token endpoint (RFC 6749 §3.2, §4.1.3, §6) ──

  private async token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const record = describeTokenRequest(req, body);
    this.stats.tokenRequests.push(record);
    const faults = this.takeTokenFaults();

    if (faults.dropBeforeProcessing) return dropConnection(req, res, record);
    if (faults.slowMs !== undefined && faults.slowMs > 0) {
      await this.delay(faults.slowMs);
      // Like a request stuck in a queue: a caller that gave up is never processed upstream.
      if (req.socket.destroyed || res.destroyed) return dropConnection(req, res, record);
    }
    if (faults.tokenStatus !== undefined) {
      record.status = faults.tokenStatus;
      const retry = faults.tokenStatus === 429 || faults.tokenStatus === 503;
      return sendJson(
        res,
        faults.tokenStatus,
        { error: errorCodeForStatus(faults.tokenStatus), error_description: 'simulated upstream failure' },
        { ...NO_STORE, ...(retry ? { 'Retry-After': String(this.faults.retryAfterS ?? 2) } : {}) },
      );
    }
    if (faults.malformedJson) {
      record.status = 200;
      const broken = '{"access_token":"at_trunc';
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(broken), ...NO_STORE });
      return void res.end(broken);
    }

    let answer: Record<string, unknown>;
    try {
      // Synchronous from here to the commit: two concurrent requests cannot both redeem a code or a refresh token.
      answer = this.grant(req, parseForm(req, body));
    } catch (err) {
      if (err instanceof OAuthError) record.status = err.status;
      throw err;
    }
    if (faults.dropAfterRotate) return dropConnection(req, res, record);
    record.status = 200;
    sendJson(res, 200, answer, NO_STORE);
  }

  /** Snapshot of the token faults for this request; counts down `failCount` and heals at zero. */
  private takeTokenFaults(): Pick<Faults, (typeof HEALING_FAULTS)[number]> {
    const f = this.faults;
    const active: Pick<Faults, (typeof HEALING_FAULTS)[number]> = {};
    for (const k of HEALING_FAULTS) if (f[k] !== undefined && f[k] !== false) (active as Record<string, unknown>)[k] = f[k];
    if (f.failCount === undefined || Object.keys(active).length === 0) return active;
    if (f.failCount <= 0) {
      this.healTokenFaults();
      return {};
    }
    f.failCount -= 1;
    if (f.failCount === 0) this.healTokenFaults();
    return active;
  }

  private healTokenFaults(): void {
    for (const k of HEALING_FAULTS) delete this.faults[k];
    delete this.faults.failCount;
  }

  private grant(req: IncomingMessage, params: URLSearchParams): Record<string, unknown> {
    const client = this.authenticateClient(req, params);
    const grantType = params.get('grant_type');
    if (grantType === null) throw invalidRequest('grant_type is required');
    if (!(GRANT_TYPES as string[]).includes(grantType)) {
      throw new OAuthError(400, 'unsupported_grant_type', `grant_type ${grantType} is not supported`);
    }
    if (!client.grant_types.includes(grantType as GrantType)) {
      throw new OAuthError(400, 'unauthorized_client', `client is not registered for ${grantType}`);
    }
    return grantType === 'authorization_code' ? this.codeGrant(client, params) : this.refreshGrant(client, params);
  }

  /** RFC 6749 §4.1.3 with RFC 7636 §4.6. */
  private codeGrant(client: ClientRecord, params: URLSearchParams): Record<string, unknown> {
    const codeValue = params.get('code');
    if (codeValue === null) throw invalidRequest('code is required');
    const code = this.codes.get(codeValue);
    if (!code || code.clientId !== client.client_id) throw invalidGrant('unknown authorization code');
    // RFC 6749 §4.1.2: a code is single-use; a replay also revokes what the code produced.
    if (code.used) {
      const family = code.familyId !== null ? this.families.get(code.familyId) : undefined;
      if (family) this.revokeFamily(family);
      throw invalidGrant('authorization code was already used');
    }
    // Burnt by its first redemption attempt, successful or not, so the verifier cannot be guessed.
    code.used = true;
    if (code.expiresAt <= this.clock()) throw invalidGrant('authorization code expired');
    if (params.get('redirect_uri') !== code.redirectUri) throw invalidGrant('redirect_uri does not match the authorization request');
    const verifier = params.get('code_verifier');
    if (verifier === null || !CODE_VERIFIER_RE.test(verifier) || !secretsEqual(s256(verifier), code.codeChallenge)) {
      throw invalidGrant('PKCE verification failed');
    }

    const family: Family = {
      id: random(12),
      clientId: client.client_id,
      scope: code.scope,
      currentRefreshToken: '',
      accessTokens: new Set(),
      revoked: false,
    };
    this.families.set(family.id, family);
    code.familyId = family.id;
    this.stats.codeGrants += 1;
    return this.issueTokens(family, true);
  }

  /** RFC 6749 §6, with refresh-token rotation and reuse detection (OAuth 2.0 Security BCP §4.14.2). */
  private refreshGrant(client: ClientRecord, params: URLSearchParams): Record<string, unknown> {
    const presented = params.get('refresh_token');
    if (presented === null) throw invalidRequest('refresh_token is required');
    const familyId = this.refreshTokens.get(presented);
    const family = familyId !== undefined ? this.families.get(familyId) : undefined;
    if (!family || family.clientId !== client.client_id) throw invalidGrant('unknown refresh token');
    this.stats.refreshGrantsByToken.set(presented, (this.stats.refreshGrantsByToken.get(presented) ?? 0) + 1);
    if (family.revoked) throw invalidGrant('refresh token was revoked');
    // A rotated-out refresh token came back: someone holds a copy, so the whole family dies.
    if (presented !== family.currentRefreshToken) {
      this.revokeFamily(family);
      this.stats.reuseDetected += 1;
      throw invalidGrant('refresh token was already used');
    }
    const scope = params.get('scope');
    // RFC 6749 §6: a refresh may narrow the scope, never widen it.
    if (scope !== null && !scope.split(' ').every((s) => family.scope.split(' ').includes(s))) {
      throw new OAuthError(400, 'invalid_scope', 'scope exceeds the original grant');
    }
    this.stats.refreshGrants += 1;
    return this.issueTokens(family, this.faults.rotation !== false, scope ?? undefined);
  }

  private issueTokens(family: Family, newRefreshToken: boolean, scope = family.scope): Record<string, unknown> {
    const prefix = this.opts.tokenPrefix ?? '';
    const ttlS = this.opts.accessTokenTtlS ?? 3600;
    const accessToken = `${prefix}at_${random()}`;
    this.accessTokens.set(accessToken, { familyId: family.id, expiresAt: this.clock() + ttlS * 1000, revoked: false });
    family.accessTokens.add(accessToken);
    if (newRefreshToken) {
      const refreshToken = `${prefix}rt_${random()}`;
      this.refreshTokens.set(refreshToken, family.id);
      family.currentRefreshToken = refreshToken;
    }
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      ...(this.faults.omitExpiresIn ? {} : { expires_in: ttlS }),
      ...(newRefreshToken ? { refresh_token: family.currentRefreshToken } : {}),
      scope,
    };
  }

  /** RFC 6749 §2.3: exactly the method the client registered, nothing else. */
  private authenticateClient(req: IncomingMessage, params: URLSearchParams): ClientRecord {
    const header = req.headers.authorization;
    const basic = header !== undefined ? parseBasic(header) : null;
    const bodyId = params.get('client_id');
    const bodySecret = params.get('client_secret');
    // RFC 6749 §2.3: a client must not use more than one authentication method per request.
    if (basic && bodySecret !== null) throw invalidRequest('client credentials in both the header and the body');
    if (basic && bodyId !== null && bodyId !== basic.id) throw invalidClient('client_id differs from the Basic credentials');
    const clientId = basic?.id ?? bodyId;
    if (clientId === null) throw invalidClient('client authentication required');
    const client = this.clients.get(clientId);
    if (!client) throw invalidClient('unknown client');

    switch (client.token_endpoint_auth_method) {
      case 'none':
        // A public client has no secret: presenting one means the caller ignored the registration answer.
        if (basic || bodySecret !== null) throw invalidClient('public client must not send a client secret');
        return client;
      case 'client_secret_post':
        if (basic) throw invalidClient('client is registered for client_secret_post');
        if (bodySecret === null || !secretsEqual(bodySecret, client.client_secret ?? '')) throw invalidClient('client authentication failed');
        return client;
      case 'client_secret_basic':
        if (!basic) throw invalidClient('client is registered for client_secret_basic');
        if (!secretsEqual(basic.secret, client.client_secret ?? '')) throw invalidClient('client authentication failed');
        return client;
    }
  }

  // ── Revocation (RFC 7009) ──

  private async revoke(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (this.faults.revocationStatus !== undefined) return this.simulatedFailure(res, this.faults.revocationStatus);
    const params = parseForm(req, body);
    const client = this.authenticateClient(req, params);
    const token = params.get('token');
    if (token === null) throw invalidRequest('token is required');

    const access = this.accessTokens.get(token);
    const refreshFamilyId = this.refreshTokens.get(token);
    const familyId = access?.familyId ?? refreshFamilyId;
    const family = familyId !== undefined ? this.families.get(familyId) : undefined;
    // RFC 7009 §2.1: a client may only revoke its own tokens.
    if (family && family.clientId !== client.client_id) {
      throw new OAuthError(400, 'unauthorized_client', 'token was not issued to this client');
    }
    // RFC 7009 §2.1: revoking a refresh token ends its grant; revoking an access token ends only it.
    if (family && refreshFamilyId !== undefined) this.revokeFamily(family);
    else if (access) access.revoked = true;
    this.stats.revocations.push(token);
    // RFC 7009 §2.2: unknown tokens are answered 200 too.
    res.writeHead(200, { 'Content-Length': 0, ...NO_STORE });
    res.end();
  }

  private revokeFamily(family: Family): void {
    family.revoked = true;
    for (const t of family.accessTokens) {
      const rec = this.accessTokens.get(t);
      if (rec) rec.revoked = true;
    }
  }

  // ── LongPort OpenAPI: get_security_list ──

  private api(req: IncomingMessage, res: ServerResponse): void {
    this.stats.apiCalls += 1;
    const token = bearerToken(req);
    const rec = token !== null ? this.accessTokens.get(token) : undefined;
    if (!rec || rec.revoked) return sendJson(res, 401, { code: 401004, message: 'invalid token' });
    if (rec.expiresAt <= this.clock()) return sendJson(res, 401, { code: 401003, message: 'token expired' });
    sendJson(res, 200, { code: 0, message: 'success', data: { list: SECURITY_LIST } });
  }

  // ── Fault plumbing ──

  private simulatedFailure(res: ServerResponse, status: number): void {
    sendJson(res, status, { error: errorCodeForStatus(status), error_description: 'simulated upstream failure' }, NO_STORE);
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.pendingDelays.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.pendingDelays.add(wake);
    });
  }
}

// ─── Small pure helpers ──────────────────────────────────────────────────────────────────────────

function assertRedirectUri(uri: unknown): void {
  if (typeof uri !== 'string') throw new OAuthError(400, 'invalid_redirect_uri', 'redirect_uris must hold strings');
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw new OAuthError(400, 'invalid_redirect_uri', `not an absolute URL: ${uri}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new OAuthError(400, 'invalid_redirect_uri', `unsupported scheme: ${parsed.protocol}`);
  }
  // RFC 6749 §3.1.2: the redirection endpoint URI must not include a fragment.
  if (uri.includes('#')) throw new OAuthError(400, 'invalid_redirect_uri', 'redirect_uri must not contain a fragment');
}

function stringArray(v: unknown, name: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) {
    throw invalidClientMetadata(`${name} must be a non-empty array of strings`);
  }
  return v as string[];
}

function scopeSupported(scope: string): boolean {
  const parts = scope.split(' ');
  return parts.length > 0 && parts.every((s) => SCOPES_SUPPORTED.includes(s));
}

/** What the stats record about a token request, read leniently before any validation. */
function describeTokenRequest(req: IncomingMessage, body: string): TokenRequestRecord {
  const params = new URLSearchParams(mediaType(req) === 'application/x-www-form-urlencoded' ? body : '');
  let basicId: string | null = null;
  const header = req.headers.authorization;
  const usesBasic = header !== undefined && /^Basic /i.test(header);
  if (usesBasic) {
    try {
      basicId = parseBasic(header!).id;
    } catch {
      // Malformed credentials are reported by the real check; the record just lacks the id.
    }
  }
  return {
    grantType: params.get('grant_type'),
    clientId: basicId ?? params.get('client_id'),
    authMethod: usesBasic ? 'client_secret_basic' : params.has('client_secret') ? 'client_secret_post' : 'none',
    dcRegion: headerValue(req, 'x-dc-region'),
    status: 0,
  };
}

function dropConnection(req: IncomingMessage, res: ServerResponse, record: TokenRequestRecord): void {
  record.status = 0;
  res.destroy();
  req.socket.destroy();
}

// ─── Entry point ─────────────────────────────────────────────────────────────────────────────────

/** Start a simulator on a free loopback port (unless told otherwise) and resolve once it listens. */
export async function startLongPortSimulator(opts: SimulatorOptions = {}): Promise<LongPortSimulator> {
  const sim = new Simulator(opts);
  await sim.listen();
  return sim;
}
