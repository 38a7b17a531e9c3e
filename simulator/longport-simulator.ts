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
import type { ClientRecord, Faults, LongPortSimulator, SimulatorOptions, SimulatorPaths, SimulatorStats } from './types.js';
import { sendJson } from './http-io.js';
import { DEFAULT_PATHS, GRANT_TYPES, normalizePath } from './protocol.js';
import { SimulatorState } from './state.js';
import { accessTokenTtlS, issueTokens } from './grants.js';
import { route } from './routes.js';
import { RestartableListener } from './listener.js';

export type {
  ClientRecord,
  Faults,
  GrantType,
  LongPortSimulator,
  SimulatorOptions,
  SimulatorPaths,
  SimulatorStats,
  TokenEndpointAuthMethod,
  TokenRequestRecord,
} from './types.js';

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
    apiCalls: 0,
    tokenRequests: [],
  };
  readonly state = new SimulatorState();
  readonly clients: Map<string, ClientRecord> = this.state.clients;
  readonly paths: SimulatorPaths;
  readonly issuerPath: string;
  readonly clock: () => number;

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

  async listen(): Promise<void> {
    const host = this.opts.host ?? '127.0.0.1';
    this.port = await this.listener.listen(this.opts.port ?? 0);
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
    this.issuer = this.url + this.issuerPath;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    route(this, req, res).catch(() => {
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
    this.state.revokeAll();
  }

  seedGrant(clientId: string, scope = '3'): { access_token: string; refresh_token: string; expires_in: number } {
    if (!this.clients.has(clientId)) throw new Error(`seedGrant: unknown client ${clientId}`);
    const issued = issueTokens(this, this.state.startFamily(clientId, scope), true);
    return { access_token: issued.access_token as string, refresh_token: issued.refresh_token as string, expires_in: accessTokenTtlS(this) };
  }

  async close(): Promise<void> {
    for (const wake of this.pendingDelays) wake();
    await this.listener.stop();
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
