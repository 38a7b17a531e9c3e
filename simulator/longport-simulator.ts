/**
 * A local LongPort OAuth 2.0 authorization server, strict where the RFCs are strict, with faults that
 * tests switch on and off at runtime. This file is the public entry point: `startLongPortSimulator`
 * and the public types; it assembles the endpoints, each in a file of its own.
 *
 * It speaks what CONTRACT.md ("Upstream: LongPort OAuth 2.0") says LongPort documents:
 * RFC 8414 discovery, RFC 7591/7592 dynamic registration, the authorization-code grant with PKCE S256
 * (RFC 6749 §4.1, RFC 7636), rotating refresh tokens with reuse detection, RFC 9207 `iss`, RFC 7009
 * revocation, and one OpenAPI call (`get_security_list`) that answers 401003 for an expired token.
 *
 * Everything lives in memory; time comes from the injected clock so tests expire tokens without
 * sleeping. Token values are never logged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorContext } from './context.js';
import type {
  ClientRecord,
  Faults,
  GrantType,
  HeldTokenRequest,
  HoldPhase,
  HungRequest,
  LongPortSimulator,
  SimulatorOptions,
  SimulatorPaths,
  SimulatorStats,
} from './types.js';
import { sendJson } from './http-io.js';
import { DEFAULT_PATHS, DEFAULT_SCOPE, GRANT_TYPES, normalizePath } from './protocol.js';
import { SimulatorState } from './state.js';
import { accessTokenTtlS, issueTokens } from './grants.js';
import { route } from './routes.js';
import { RestartableListener } from './listener.js';
import { rotateSecret } from './client-secrets.js';
import { TokenHolds } from './token-holds.js';
import { Hangs } from './hangs.js';

/** Every public type (options, faults, stats, records, the simulator handle, holds and hangs). */
export type * from './types.js';

class Simulator implements LongPortSimulator, SimulatorContext {
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
    clientsRead: [],
    clientsUpdated: [],
    requests: { discovery: 0, authorize: 0, token: 0, revocation: 0, registration: 0, api: 0 },
    hungRequests: [],
    apiCalls: 0,
    tokenRequests: [],
  };
  readonly state = new SimulatorState();
  readonly clients: Map<string, ClientRecord> = this.state.clients;
  readonly paths: SimulatorPaths;
  readonly issuerPath: string;
  readonly clock: () => number;
  readonly holds = new TokenHolds();

  private readonly hangs = new Hangs();
  private closed = false;
  private comingUp: Promise<void> | null = null;
  /** Wake-ups of real-time waits, fired on close so no handler outlives the server. */
  private readonly pendingDelays = new Set<() => void>();
  private readonly listener: RestartableListener;

  constructor(readonly opts: SimulatorOptions) {
    this.paths = { ...DEFAULT_PATHS, ...opts.paths };
    for (const k of Object.keys(this.paths) as (keyof SimulatorPaths)[]) this.paths[k] = normalizePath(this.paths[k]);
    const issuerPath = opts.issuerPath ? normalizePath(opts.issuerPath) : '';
    this.issuerPath = issuerPath === '/' ? '' : issuerPath;
    this.clock = opts.clock ?? Date.now;
    this.listener = new RestartableListener(opts.host ?? '127.0.0.1', (req, res) => this.handle(req, res));
  }

  /** Listens on the configured port (0: a free one) the first time, on the same port afterwards. */
  async listen(): Promise<void> {
    if (this.closed) throw new Error('the simulator was closed');
    const host = this.opts.host ?? '127.0.0.1';
    this.port = await this.listener.listen(this.port || (this.opts.port ?? 0));
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
    this.issuer = this.url + this.issuerPath;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    route(this, this.hangs, req, res).catch(() => {
      // Never echo internals (or tokens) anywhere; the caller just sees a server_error.
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  }

  // ── Public controls ──

  setFaults(f: Faults): void {
    for (const [k, v] of Object.entries(f) as [keyof Faults, unknown][]) {
      if (v === undefined) delete this.faults[k];
      else (this.faults as Record<string, unknown>)[k] = v;
    }
    this.hangs.dropAllBut(this.faults.hang ?? []);
  }

  resetFaults(): void {
    for (const k of Object.keys(this.faults) as (keyof Faults)[]) delete this.faults[k];
    this.hangs.dropAll();
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
      ...(c.client_secret_expires_at !== undefined ? { client_secret_expires_at: c.client_secret_expires_at } : {}),
    });
  }

  rotateClientSecret(clientId: string, options: { expiresInS?: number; graceS?: number } = {}): { client_secret: string; client_secret_expires_at: number } {
    const client = this.clients.get(clientId);
    if (!client) throw new Error(`rotateClientSecret: unknown client ${clientId}`);
    return rotateSecret(client, this.clock(), options.expiresInS ?? this.opts.clientSecretTtlS, options.graceS);
  }

  revokeAll(): void {
    this.state.revokeAll();
  }

  seedGrant(clientId: string, scope = DEFAULT_SCOPE): { access_token: string; refresh_token: string; expires_in: number } {
    if (!this.clients.has(clientId)) throw new Error(`seedGrant: unknown client ${clientId}`);
    const issued = issueTokens(this, this.state.startFamily(clientId, scope), true);
    return { access_token: issued.access_token as string, refresh_token: issued.refresh_token as string, expires_in: accessTokenTtlS(this) };
  }

  holdTokenRequests(phase: HoldPhase, options?: { count?: number; grantType?: GrantType }): void {
    this.holds.arm(phase, options);
  }

  tokenRequestHeld(): Promise<HeldTokenRequest> {
    return this.holds.next();
  }

  releaseHeldTokenRequests(): void {
    this.holds.releaseAll();
  }

  requestHung(): Promise<HungRequest> {
    return this.hangs.next();
  }

  get listening(): boolean {
    return this.listener.listening;
  }

  async takeDown(): Promise<void> {
    this.wakeDelays();
    await this.listener.stop();
  }

  bringUp(): Promise<void> {
    if (this.listener.listening) return Promise.resolve();
    // Two callers bringing it up at once share one listen on the port.
    this.comingUp ??= this.listen().finally(() => (this.comingUp = null));
    return this.comingUp;
  }

  async close(): Promise<void> {
    this.closed = true;
    // Connections go first, so a released hold finds its caller gone and processes nothing.
    const down = this.takeDown();
    this.holds.releaseAll();
    this.hangs.dropAll();
    await down;
  }

  /** Ends every real-time wait early; the waiting handlers then find their callers gone. */
  private wakeDelays(): void {
    for (const wake of this.pendingDelays) wake();
  }

  delay(ms: number): Promise<void> {
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

/** Start a simulator on a free loopback port (unless told otherwise) and resolve once it listens. */
export async function startLongPortSimulator(opts: SimulatorOptions = {}): Promise<LongPortSimulator> {
  const sim = new Simulator(opts);
  await sim.listen();
  return sim;
}
