import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startLongPortSimulator,
  type LongPortSimulator,
  type SimulatorOptions,
} from '../simulator/longport-simulator.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import type { SimulatorEndpoint } from '../simulator/longport-simulator.js';

// ─── Harness ─────────────────────────────────────────────────────────────────────────────────────

const REDIRECT_URI = 'https://broker.example/oauth/callback';
const T0 = 1_700_000_000_000;
let now = T0;
const running: LongPortSimulator[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
  now = T0;
});

async function start(opts: SimulatorOptions = {}): Promise<LongPortSimulator> {
  const sim = await startLongPortSimulator({ clock: () => now, ...opts });
  running.push(sim);
  return sim;
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  registration_endpoint: string;
  revocation_endpoint?: string;
  [k: string]: unknown;
}

interface Registered {
  client_id: string;
  client_secret?: string;
  token_endpoint_auth_method: string;
  registration_access_token?: string;
  registration_client_uri?: string;
  [k: string]: unknown;
}

interface Tokens {
  access_token: string;
  refresh_token?: string;
  expires_in?: number;
  token_type: string;
  scope: string;
}

interface Client {
  id: string;
  secret?: string;
  method: 'none' | 'client_secret_post' | 'client_secret_basic';
}

async function discover(sim: LongPortSimulator, wellKnownPath = '/.well-known/oauth-authorization-server'): Promise<Discovery> {
  const res = await fetch(sim.url + wellKnownPath);
  expect(res.status).toBe(200);
  return (await res.json()) as Discovery;
}

async function register(sim: LongPortSimulator, body: Record<string, unknown> = {}): Promise<Response> {
  const d = await discover(sim);
  return fetch(d.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Acme <broker>',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      ...body,
    }),
  });
}

async function registerClient(sim: LongPortSimulator): Promise<Client> {
  const reg = (await (await register(sim)).json()) as Registered;
  return {
    id: reg.client_id,
    method: reg.token_endpoint_auth_method as Client['method'],
    ...(reg.client_secret !== undefined ? { secret: reg.client_secret } : {}),
  };
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(sim: LongPortSimulator, client: Client, extra: Record<string, string | null> = {}): string {
  const url = new URL('/oauth2/authorize', sim.url);
  const params: Record<string, string | null> = {
    response_type: 'code',
    client_id: client.id,
    redirect_uri: REDIRECT_URI,
    scope: '3',
    state: 'st-123',
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
    ...extra,
  };
  for (const [k, v] of Object.entries(params)) if (v !== null) url.searchParams.set(k, v);
  return url.toString();
}

/** Plays the browser: loads the login page, posts its form, returns the redirect back to the client. */
async function loginAndConsent(authorizeHref: string): Promise<URL> {
  const page = await fetch(authorizeHref, { redirect: 'manual' });
  expect(page.status).toBe(200);
  const html = await page.text();
  const action = /<form method="POST" action="([^"]+)"/.exec(html)?.[1];
  const fields = [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]);
  expect(action).toBeDefined();
  const posted = await fetch(action!.replace(/&#38;/g, '&'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
  expect(posted.status).toBe(303);
  return new URL(posted.headers.get('location')!);
}

async function authorizeCode(sim: LongPortSimulator, client: Client): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkce();
  const back = await loginAndConsent(authorizeUrl(sim, client, { code_challenge: challenge }));
  return { code: back.searchParams.get('code')!, verifier };
}

function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+');
}

/** Posts to the token (or revocation) endpoint authenticating the way the client is registered. */
async function tokenCall(
  endpoint: string,
  client: Client,
  params: Record<string, string>,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  const body = new URLSearchParams(params);
  const h: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', ...headers };
  if (client.method === 'client_secret_basic') {
    h.authorization = `Basic ${Buffer.from(`${formEncode(client.id)}:${formEncode(client.secret!)}`).toString('base64')}`;
  } else {
    body.set('client_id', client.id);
    if (client.method === 'client_secret_post') body.set('client_secret', client.secret!);
  }
  return fetch(endpoint, { method: 'POST', headers: h, body: body.toString(), ...(signal ? { signal } : {}) });
}

async function exchangeCode(sim: LongPortSimulator, client: Client, code: string, verifier: string): Promise<Response> {
  const d = await discover(sim);
  return tokenCall(d.token_endpoint, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
}

async function refresh(sim: LongPortSimulator, client: Client, refreshToken: string, signal?: AbortSignal): Promise<Response> {
  return tokenCall(`${sim.url}/oauth2/token`, client, { grant_type: 'refresh_token', refresh_token: refreshToken }, {}, signal);
}

/** Registers, authorizes and exchanges: a linked account's first token pair. */
async function link(sim: LongPortSimulator, client?: Client): Promise<{ client: Client; tokens: Tokens }> {
  const c = client ?? (await registerClient(sim));
  const { code, verifier } = await authorizeCode(sim, c);
  const res = await exchangeCode(sim, c, code, verifier);
  expect(res.status).toBe(200);
  return { client: c, tokens: (await res.json()) as Tokens };
}

async function callApi(sim: LongPortSimulator, accessToken: string): Promise<{ status: number; body: { code: number; message: string; data?: unknown } }> {
  const res = await fetch(`${sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${accessToken}` } });
  return { status: res.status, body: (await res.json()) as { code: number; message: string } };
}

async function errorOf(res: Response): Promise<{ status: number; error: string }> {
  const body = (await res.json()) as { error: string; error_description: string };
  expect(typeof body.error_description).toBe('string');
  return { status: res.status, error: body.error };
}

// ─── Discovery ───────────────────────────────────────────────────────────────────────────────────

describe('discovery (RFC 8414)', () => {
  it('publishes every endpoint, S256 only, the auth methods and iss support', async () => {
    const sim = await start();

    const d = await discover(sim);

    expect(d).toEqual({
      issuer: sim.url,
      authorization_endpoint: `${sim.url}/oauth2/authorize`,
      token_endpoint: `${sim.url}/oauth2/token`,
      registration_endpoint: `${sim.url}/oauth2/register`,
      revocation_endpoint: `${sim.url}/oauth2/revoke`,
      revocation_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
      authorization_response_iss_parameter_supported: true,
      scopes_supported: ['3'],
    });
    expect(sim.issuer).toBe(sim.url);
  });

  it('serves custom endpoint paths and inserts the issuer path into the well-known URI', async () => {
    const sim = await start({
      issuerPath: '/tenant-a',
      paths: { authorize: '/x/auth', token: '/x/tok', register: '/x/reg', revoke: '/x/rev', api: '/x/api' },
    });

    const d = await discover(sim, '/.well-known/oauth-authorization-server/tenant-a');
    const root = await fetch(`${sim.url}/.well-known/oauth-authorization-server`);

    expect(d.issuer).toBe(`${sim.url}/tenant-a`);
    expect(sim.issuer).toBe(d.issuer);
    expect(d.authorization_endpoint).toBe(`${sim.url}/x/auth`);
    expect(d.token_endpoint).toBe(`${sim.url}/x/tok`);
    expect(d.registration_endpoint).toBe(`${sim.url}/x/reg`);
    expect(d.revocation_endpoint).toBe(`${sim.url}/x/rev`);
    expect(root.status).toBe(404);
    expect((await fetch(`${sim.url}/oauth2/token`, { method: 'POST' })).status).toBe(404);
  });

  it('omits revocation_endpoint when revocation is off and states sendIss', async () => {
    const sim = await start({ revocation: false, sendIss: false });

    const d = await discover(sim);

    expect(d.revocation_endpoint).toBeUndefined();
    expect(d.authorization_response_iss_parameter_supported).toBe(false);
    expect((await fetch(`${sim.url}/oauth2/revoke`, { method: 'POST' })).status).toBe(404);
  });

  it('fault discoveryStatus: discovery answers that status', async () => {
    const sim = await start();
    sim.setFaults({ discoveryStatus: 503 });

    const res = await fetch(`${sim.url}/.well-known/oauth-authorization-server`);

    expect(res.status).toBe(503);
  });

  it('fault issuerOverride: discovery claims another issuer', async () => {
    const sim = await start();
    sim.faults.issuerOverride = 'https://openapi.longbridge.com';

    const d = await discover(sim);

    expect(d.issuer).toBe('https://openapi.longbridge.com');
  });

  it('fault noS256: discovery lists only plain', async () => {
    const sim = await start();
    sim.setFaults({ noS256: true });

    const d = await discover(sim);

    expect(d.code_challenge_methods_supported).toEqual(['plain']);
  });
});

// ─── Registration ────────────────────────────────────────────────────────────────────────────────

describe('dynamic client registration (RFC 7591 / 7592)', () => {
  it('a public client gets only a client_id, auth method none, and no secret', async () => {
    const sim = await start();

    const res = await register(sim);
    const reg = (await res.json()) as Registered;

    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(reg).toMatchObject({
      client_name: 'Acme <broker>',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      client_id_issued_at: Math.floor(T0 / 1000),
    });
    expect(reg.client_id).toMatch(/^lp_/);
    expect(reg).not.toHaveProperty('client_secret');
    expect(reg.registration_access_token).toBeTypeOf('string');
    expect(reg.registration_client_uri).toBe(`${sim.url}/oauth2/register/${reg.client_id}`);
    expect(sim.stats.registrations).toBe(1);
  });

  it('a confidential client gets a non-expiring secret and the configured auth method', async () => {
    const sim = await start({ clientType: 'confidential', confidentialAuthMethod: 'client_secret_post' });

    const reg = (await (await register(sim)).json()) as Registered;

    expect(reg.token_endpoint_auth_method).toBe('client_secret_post');
    expect(reg.client_secret).toBeTypeOf('string');
    expect(reg.client_secret_expires_at).toBe(0);
  });

  it('confidential clients default to client_secret_basic', async () => {
    const sim = await start({ clientType: 'confidential' });

    const reg = (await (await register(sim)).json()) as Registered;

    expect(reg.token_endpoint_auth_method).toBe('client_secret_basic');
  });

  it('without registrationManagement there is no registration access token', async () => {
    const sim = await start({ registrationManagement: false });

    const reg = (await (await register(sim)).json()) as Registered;

    expect(reg).not.toHaveProperty('registration_access_token');
    expect(reg).not.toHaveProperty('registration_client_uri');
  });

  it.each([
    ['missing redirect_uris', { redirect_uris: undefined }, 'invalid_redirect_uri'],
    ['a relative redirect URI', { redirect_uris: ['/callback'] }, 'invalid_redirect_uri'],
    ['a redirect URI with a fragment', { redirect_uris: [`${REDIRECT_URI}#x`] }, 'invalid_redirect_uri'],
    ['an unsupported grant type', { grant_types: ['client_credentials'] }, 'invalid_client_metadata'],
    ['an unsupported response type', { response_types: ['token'] }, 'invalid_client_metadata'],
    ['response type code without its grant type', { grant_types: ['refresh_token'] }, 'invalid_client_metadata'],
  ])('rejects %s', async (_name, body, expected) => {
    const sim = await start();

    const res = await register(sim, body);

    expect(await errorOf(res)).toEqual({ status: 400, error: expected });
    expect(sim.clients.size).toBe(0);
  });

  it('rejects a body that is not JSON', async () => {
    const sim = await start();

    const res = await fetch(`${sim.url}/oauth2/register`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });

    expect(await errorOf(res)).toEqual({ status: 400, error: 'invalid_client_metadata' });
  });

  it('DELETE on registration_client_uri needs the registration access token, then deletes the client and its tokens', async () => {
    const sim = await start();
    const reg = (await (await register(sim)).json()) as Registered;
    const client: Client = { id: reg.client_id, method: 'none' };
    const { tokens } = await link(sim, client);

    const wrong = await fetch(reg.registration_client_uri!, { method: 'DELETE', headers: { authorization: 'Bearer nope' } });
    const right = await fetch(reg.registration_client_uri!, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${reg.registration_access_token}` },
    });

    expect(wrong.status).toBe(401);
    expect(right.status).toBe(204);
    expect(sim.clients.has(reg.client_id)).toBe(false);
    expect(sim.stats.clientsDeleted).toEqual([reg.client_id]);
    expect((await callApi(sim, tokens.access_token)).body.code).toBe(401004);
  });

  it('GET on registration_client_uri reads the client', async () => {
    const sim = await start();
    const reg = (await (await register(sim)).json()) as Registered;

    const res = await fetch(reg.registration_client_uri!, { headers: { authorization: `Bearer ${reg.registration_access_token}` } });

    expect(res.status).toBe(200);
    expect(((await res.json()) as Registered).client_id).toBe(reg.client_id);
  });

  it('fault registrationStatus: registration answers that status', async () => {
    const sim = await start();
    sim.setFaults({ registrationStatus: 500 });

    const res = await register(sim);

    expect(await errorOf(res)).toEqual({ status: 500, error: 'server_error' });
    expect(sim.stats.registrations).toBe(0);
  });
});

// ─── Authorization endpoint ──────────────────────────────────────────────────────────────────────

describe('authorization endpoint', () => {
  it('answers a self-submitting LongPort login page instead of redirecting', async () => {
    const sim = await start();
    const client = await registerClient(sim);

    const res = await fetch(authorizeUrl(sim, client), { redirect: 'manual' });
    const html = await res.text();

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html).toContain('LongPort login');
    expect(html).toContain(`<form method="POST" action="${sim.url}/login">`);
    expect(html).toMatch(/<input type="hidden" name="login_id" value="[^"]+">/);
    expect(html).toContain('<button type="submit">');
    expect(html).toContain('<script>document.forms[0].submit()</script>');
    expect(html).toContain('Acme &#60;broker&#62;');
  });

  it('posting the login form redirects 303 with code, state and iss', async () => {
    const sim = await start();
    const client = await registerClient(sim);

    const back = await loginAndConsent(authorizeUrl(sim, client));

    expect(back.origin + back.pathname).toBe(REDIRECT_URI);
    expect(back.searchParams.get('code')).toBeTruthy();
    expect(back.searchParams.get('state')).toBe('st-123');
    expect(back.searchParams.get('iss')).toBe(sim.issuer);
    expect(sim.stats.authorizations).toBe(1);
  });

  it('without sendIss the redirect carries no iss', async () => {
    const sim = await start({ sendIss: false });
    const client = await registerClient(sim);

    const back = await loginAndConsent(authorizeUrl(sim, client));

    expect(back.searchParams.has('iss')).toBe(false);
  });

  it('the login form is single-use', async () => {
    const sim = await start();
    const client = await registerClient(sim);
    const html = await (await fetch(authorizeUrl(sim, client))).text();
    const loginId = /name="login_id" value="([^"]+)"/.exec(html)![1]!;
    const post = () =>
      fetch(`${sim.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `login_id=${encodeURIComponent(loginId)}`,
        redirect: 'manual',
      });

    const first = await post();
    const second = await post();

    expect(first.status).toBe(303);
    expect(second.status).toBe(400);
  });

  it.each([
    ['an unknown client', { client_id: 'nobody' }],
    ['an unregistered redirect_uri', { redirect_uri: 'https://evil.example/cb' }],
    ['a missing redirect_uri', { redirect_uri: null }],
  ])('shows a 400 page, never a redirect, for %s', async (_name, extra) => {
    const sim = await start();
    const client = await registerClient(sim);

    const res = await fetch(authorizeUrl(sim, client, extra), { redirect: 'manual' });

    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('Authorization error');
  });

  it.each([
    ['plain', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['a missing code_challenge_method', { code_challenge_method: null }, 'invalid_request'],
    ['a missing code_challenge', { code_challenge: null }, 'invalid_request'],
    ['response_type token', { response_type: 'token' }, 'unsupported_response_type'],
    ['an unknown scope', { scope: 'trade' }, 'invalid_scope'],
  ])('redirects back with an error for %s', async (_name, extra, expected) => {
    const sim = await start();
    const client = await registerClient(sim);

    const res = await fetch(authorizeUrl(sim, client, extra), { redirect: 'manual' });
    const back = new URL(res.headers.get('location')!);

    expect(res.status).toBe(302);
    expect(back.searchParams.get('error')).toBe(expected);
    expect(back.searchParams.get('state')).toBe('st-123');
    expect(back.searchParams.get('code')).toBeNull();
  });

  it('fault authorizeError: the redirect carries error, an HTML-laden description and state', async () => {
    const sim = await start();
    const client = await registerClient(sim);
    sim.setFaults({ authorizeError: 'access_denied' });

    const back = await loginAndConsent(authorizeUrl(sim, client));

    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('error_description')).toContain('<script>');
    expect(back.searchParams.get('state')).toBe('st-123');
    expect(back.searchParams.get('iss')).toBe(sim.issuer);
    expect(back.searchParams.has('code')).toBe(false);
  });
});

// ─── Token endpoint: authorization_code ──────────────────────────────────────────────────────────

describe('token endpoint: authorization_code with PKCE', () => {
  it('exchanges a code and a matching S256 verifier for a token pair, no-store', async () => {
    const sim = await start({ tokenPrefix: 'us_', accessTokenTtlS: 1800 });
    const client = await registerClient(sim);
    const { code, verifier } = await authorizeCode(sim, client);

    const res = await exchangeCode(sim, client, code, verifier);
    const tokens = (await res.json()) as Tokens;

    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 1800, scope: '3' });
    expect(tokens.access_token).toMatch(/^us_at_/);
    expect(tokens.refresh_token).toMatch(/^us_rt_/);
    expect(sim.stats.codeGrants).toBe(1);
  });

  it('rejects a wrong code_verifier with invalid_grant', async () => {
    const sim = await start();
    const client = await registerClient(sim);
    const { code } = await authorizeCode(sim, client);

    const res = await exchangeCode(sim, client, code, pkce().verifier);

    expect(await errorOf(res)).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('a code is single-use: a replay is invalid_grant and revokes the tokens it produced', async () => {
    const sim = await start();
    const client = await registerClient(sim);
    const { code, verifier } = await authorizeCode(sim, client);
    const first = (await (await exchangeCode(sim, client, code, verifier)).json()) as Tokens;

    const replay = await exchangeCode(sim, client, code, verifier);

    expect(await errorOf(replay)).toEqual({ status: 400, error: 'invalid_grant' });
    expect((await callApi(sim, first.access_token)).body.code).toBe(401004);
    expect(await errorOf(await refresh(sim, client, first.refresh_token!))).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('a code lives 60 seconds by the injected clock', async () => {
    const sim = await start();
    const client = await registerClient(sim);
    const { code, verifier } = await authorizeCode(sim, client);
    now += 60_000;

    const res = await exchangeCode(sim, client, code, verifier);

    expect(await errorOf(res)).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('the redirect_uri must match the authorization request', async () => {
    const sim = await start();
    const client = await registerClient(sim);
    const { code, verifier } = await authorizeCode(sim, client);

    const res = await tokenCall(`${sim.url}/oauth2/token`, client, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: 'https://broker.example/other',
      code_verifier: verifier,
    });

    expect(await errorOf(res)).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('a code is bound to its client', async () => {
    const sim = await start();
    const owner = await registerClient(sim);
    const other = await registerClient(sim);
    const { code, verifier } = await authorizeCode(sim, owner);

    const res = await exchangeCode(sim, other, code, verifier);

    expect(await errorOf(res)).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('only form-encoded requests are accepted', async () => {
    const sim = await start();
    const client = await registerClient(sim);

    const res = await fetch(`${sim.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', client_id: client.id, refresh_token: 'x' }),
    });

    expect(await errorOf(res)).toEqual({ status: 400, error: 'invalid_request' });
  });

  it('rejects an unsupported grant type', async () => {
    const sim = await start();
    const client = await registerClient(sim);

    const res = await tokenCall(`${sim.url}/oauth2/token`, client, { grant_type: 'client_credentials' });

    expect(await errorOf(res)).toEqual({ status: 400, error: 'unsupported_grant_type' });
  });
});

// ─── Token endpoint: refresh_token ───────────────────────────────────────────────────────────────

describe('token endpoint: refresh_token', () => {
  it('rotates: a refresh returns a new refresh token, and the old one is then reuse that revokes the family', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);

    const refreshed = (await (await refresh(sim, client, tokens.refresh_token!)).json()) as Tokens;
    const reuse = await refresh(sim, client, tokens.refresh_token!);

    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(await errorOf(reuse)).toEqual({ status: 400, error: 'invalid_grant' });
    expect(sim.stats.reuseDetected).toBe(1);
    expect(await errorOf(await refresh(sim, client, refreshed.refresh_token!))).toEqual({ status: 400, error: 'invalid_grant' });
    expect((await callApi(sim, refreshed.access_token)).body.code).toBe(401004);
    expect(sim.stats.refreshGrants).toBe(1);
    expect(sim.stats.refreshGrantsByToken.get(tokens.refresh_token!)).toBe(2);
  });

  it('fault rotation=false: answers omit refresh_token and the same one keeps working', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ rotation: false });

    const first = (await (await refresh(sim, client, tokens.refresh_token!)).json()) as Tokens;
    const second = await refresh(sim, client, tokens.refresh_token!);

    expect(first).not.toHaveProperty('refresh_token');
    expect(first.access_token).not.toBe(tokens.access_token);
    expect(second.status).toBe(200);
    expect(sim.stats.reuseDetected).toBe(0);
  });

  it('fault omitExpiresIn: answers carry no expires_in', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ omitExpiresIn: true });

    const refreshed = (await (await refresh(sim, client, tokens.refresh_token!)).json()) as Tokens;

    expect(refreshed).not.toHaveProperty('expires_in');
    expect(refreshed.access_token).toBeTruthy();
  });

  it('rejects an unknown refresh token', async () => {
    const sim = await start();
    const client = await registerClient(sim);

    const res = await refresh(sim, client, 'rt_nope');

    expect(await errorOf(res)).toEqual({ status: 400, error: 'invalid_grant' });
  });

  it('revokeAll invalidates every token, as if the user revoked access at LongPort', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);

    sim.revokeAll();

    expect(await errorOf(await refresh(sim, client, tokens.refresh_token!))).toEqual({ status: 400, error: 'invalid_grant' });
    expect((await callApi(sim, tokens.access_token)).body.code).toBe(401004);
  });
});

// ─── Client authentication ───────────────────────────────────────────────────────────────────────

describe('client authentication at the token endpoint', () => {
  it('a public client must not send a client_secret', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);

    const res = await fetch(`${sim.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: client.id, client_secret: 'x' }).toString(),
    });

    expect(await errorOf(res)).toEqual({ status: 401, error: 'invalid_client' });
  });

  it('a public client must send its client_id', async () => {
    const sim = await start();
    const { tokens } = await link(sim);

    const res = await fetch(`${sim.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }).toString(),
    });

    expect(res.status).toBe(401);
  });

  it('client_secret_basic: form-encoded Basic credentials work, a secret in the body is refused', async () => {
    const sim = await start({ clientType: 'confidential' });
    const { client, tokens } = await link(sim);
    const asPost: Client = { ...client, method: 'client_secret_post' };

    const wrongMethod = await refresh(sim, asPost, tokens.refresh_token!);
    const right = await refresh(sim, client, tokens.refresh_token!);

    expect(client.method).toBe('client_secret_basic');
    expect(await errorOf(wrongMethod)).toEqual({ status: 401, error: 'invalid_client' });
    expect(wrongMethod.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(right.status).toBe(200);
    expect(sim.stats.tokenRequests.map((r) => r.authMethod)).toEqual(['client_secret_basic', 'client_secret_post', 'client_secret_basic']);
  });

  it('client_secret_basic: credentials that are not form-encoded fail when the secret needs encoding', async () => {
    const sim = await start();
    sim.addClient({ client_id: 'imported', client_secret: 'a+b/c=:d', redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'client_secret_basic' });
    const { tokens } = await link(sim, { id: 'imported', secret: 'a+b/c=:d', method: 'client_secret_basic' });

    const raw = await fetch(`${sim.url}/oauth2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('imported:a+b/c=:d').toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }).toString(),
    });

    expect(raw.status).toBe(401);
  });

  it('client_secret_post: Basic is refused, body credentials work, a wrong secret is refused', async () => {
    const sim = await start({ clientType: 'confidential', confidentialAuthMethod: 'client_secret_post' });
    const { client, tokens } = await link(sim);

    const basic = await refresh(sim, { ...client, method: 'client_secret_basic' }, tokens.refresh_token!);
    const wrongSecret = await refresh(sim, { ...client, secret: 'nope' }, tokens.refresh_token!);
    const right = await refresh(sim, client, tokens.refresh_token!);

    expect(await errorOf(basic)).toEqual({ status: 401, error: 'invalid_client' });
    expect(await errorOf(wrongSecret)).toEqual({ status: 401, error: 'invalid_client' });
    expect(right.status).toBe(200);
  });

  it('an unknown client is invalid_client', async () => {
    const sim = await start();

    const res = await refresh(sim, { id: 'ghost', method: 'none' }, 'rt_x');

    expect(await errorOf(res)).toEqual({ status: 401, error: 'invalid_client' });
  });

  it('records x-dc-region, grant type and client of every token request', async () => {
    const sim = await start({ tokenPrefix: 'us_' });
    const { client, tokens } = await link(sim);

    await tokenCall(`${sim.url}/oauth2/token`, client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { 'x-dc-region': 'us' });

    expect(sim.stats.tokenRequests).toEqual([
      { grantType: 'authorization_code', clientId: client.id, authMethod: 'none', dcRegion: null, status: 200 },
      { grantType: 'refresh_token', clientId: client.id, authMethod: 'none', dcRegion: 'us', status: 200 },
    ]);
  });
});

// ─── Token endpoint faults ───────────────────────────────────────────────────────────────────────

describe('token endpoint faults', () => {
  it.each([
    [500, 'server_error'],
    [502, 'server_error'],
    [503, 'temporarily_unavailable'],
  ] as const)('fault tokenStatus %i answers %s without processing', async (status, error) => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ tokenStatus: status });

    const res = await refresh(sim, client, tokens.refresh_token!);

    expect(await errorOf(res)).toEqual({ status, error });
    expect(sim.stats.refreshGrants).toBe(0);
  });

  it('fault tokenStatus 429 carries Retry-After', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ tokenStatus: 429, retryAfterS: 7 });

    const res = await refresh(sim, client, tokens.refresh_token!);

    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
  });

  it('fault failCount: the fault applies that many times, then heals', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ tokenStatus: 503, failCount: 2 });

    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await refresh(sim, client, tokens.refresh_token!)).status);

    expect(statuses).toEqual([503, 503, 200]);
    expect(sim.faults).toEqual({});
  });

  it('fault slowMs: the answer comes after the delay', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ slowMs: 20 });

    const t = performance.now();
    const res = await refresh(sim, client, tokens.refresh_token!);

    expect(res.status).toBe(200);
    expect(performance.now() - t).toBeGreaterThanOrEqual(15);
  });

  it('fault slowMs: a caller that gives up is never processed', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ slowMs: 20, failCount: 1 });
    const abort = new AbortController();

    const gaveUp = refresh(sim, client, tokens.refresh_token!, abort.signal).catch(() => 'aborted');
    while (sim.stats.tokenRequests.length < 2) await new Promise((r) => setTimeout(r, 1));
    abort.abort();
    await new Promise((r) => setTimeout(r, 30));
    const retry = await refresh(sim, client, tokens.refresh_token!);

    expect(await gaveUp).toBe('aborted');
    expect(retry.status).toBe(200);
    expect(sim.stats.refreshGrants).toBe(1);
    expect(sim.stats.reuseDetected).toBe(0);
    expect(sim.stats.tokenRequests[1]!.status).toBe(0);
  });

  it('fault malformedJson: 200 with a broken body, nothing processed', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ malformedJson: true });

    const res = await refresh(sim, client, tokens.refresh_token!);

    expect(res.status).toBe(200);
    await expect(res.json()).rejects.toThrow();
    expect(sim.stats.refreshGrants).toBe(0);
  });

  it('fault dropAfterRotate: the refresh commits, the socket dies, the old refresh token is now reuse', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ dropAfterRotate: true, failCount: 1 });

    await expect(refresh(sim, client, tokens.refresh_token!)).rejects.toThrow();
    const retry = await refresh(sim, client, tokens.refresh_token!);

    expect(sim.stats.refreshGrants).toBe(1);
    expect(await errorOf(retry)).toEqual({ status: 400, error: 'invalid_grant' });
    expect(sim.stats.reuseDetected).toBe(1);
  });

  it('fault dropBeforeProcessing: the socket dies and nothing changes', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ dropBeforeProcessing: true, failCount: 1 });

    await expect(refresh(sim, client, tokens.refresh_token!)).rejects.toThrow();
    const retry = await refresh(sim, client, tokens.refresh_token!);

    expect(retry.status).toBe(200);
    expect(sim.stats.refreshGrants).toBe(1);
  });

  it('resetFaults clears every fault', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ tokenStatus: 500, noS256: true });

    sim.resetFaults();

    expect(sim.faults).toEqual({});
    expect((await refresh(sim, client, tokens.refresh_token!)).status).toBe(200);
  });
});

// ─── Revocation ──────────────────────────────────────────────────────────────────────────────────

describe('revocation (RFC 7009)', () => {
  async function revoke(sim: LongPortSimulator, client: Client, token: string, hint?: string): Promise<Response> {
    return tokenCall(`${sim.url}/oauth2/revoke`, client, { token, ...(hint ? { token_type_hint: hint } : {}) });
  }

  it('revoking a refresh token revokes its whole family', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);

    const res = await revoke(sim, client, tokens.refresh_token!, 'refresh_token');

    expect(res.status).toBe(200);
    expect(sim.stats.revocations).toEqual([tokens.refresh_token]);
    expect((await callApi(sim, tokens.access_token)).body.code).toBe(401004);
    expect((await refresh(sim, client, tokens.refresh_token!)).status).toBe(400);
  });

  it('revoking an access token leaves the refresh token working', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);

    await revoke(sim, client, tokens.access_token);

    expect((await callApi(sim, tokens.access_token)).body.code).toBe(401004);
    expect((await refresh(sim, client, tokens.refresh_token!)).status).toBe(200);
  });

  it('an unknown token is answered 200', async () => {
    const sim = await start();
    const client = await registerClient(sim);

    const res = await revoke(sim, client, 'never-issued');

    expect(res.status).toBe(200);
  });

  it('requires client authentication', async () => {
    const sim = await start({ clientType: 'confidential' });
    const { client, tokens } = await link(sim);

    const res = await revoke(sim, { ...client, secret: 'wrong' }, tokens.refresh_token!);

    expect(await errorOf(res)).toEqual({ status: 401, error: 'invalid_client' });
  });

  it('fault revocationStatus: revocation answers that status', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ revocationStatus: 503 });

    const res = await revoke(sim, client, tokens.refresh_token!);

    expect(res.status).toBe(503);
    expect(sim.stats.revocations).toEqual([]);
  });
});

// ─── OpenAPI ─────────────────────────────────────────────────────────────────────────────────────

describe('get_security_list', () => {
  it('answers the list for a valid access token', async () => {
    const sim = await start();
    const { tokens } = await link(sim);

    const { status, body } = await callApi(sim, tokens.access_token);

    expect(status).toBe(200);
    expect(body).toMatchObject({ code: 0, message: 'success', data: { list: expect.arrayContaining([{ symbol: 'AAPL.US', name_cn: '苹果', name_hk: '蘋果', name_en: 'Apple Inc.' }]) } });
    expect(sim.stats.apiCalls).toBe(1);
  });

  it('answers 401 with code 401003 once the injected clock passes expiry', async () => {
    const sim = await start({ accessTokenTtlS: 60 });
    const { tokens } = await link(sim);
    now += 60_000;

    const { status, body } = await callApi(sim, tokens.access_token);

    expect(status).toBe(401);
    expect(body).toEqual({ code: 401003, message: 'token expired' });
  });

  it('answers 401 with code 401004 without a known token', async () => {
    const sim = await start();

    const res = await fetch(`${sim.url}/v1/quote/get_security_list`);

    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ code: 401004, message: 'invalid token' });
  });
});

// ─── Lifecycle ───────────────────────────────────────────────────────────────────────────────────

describe('lifecycle', () => {
  it('closes promptly with a keep-alive connection and a slow request open', async () => {
    const sim = await startLongPortSimulator();
    await fetch(`${sim.url}/.well-known/oauth-authorization-server`);
    sim.setFaults({ slowMs: 10_000 });
    const pending = fetch(`${sim.url}/oauth2/token`, { method: 'POST' }).catch(() => 'dropped');

    const t = performance.now();
    await sim.close();

    expect(await pending).toBe('dropped');
    expect(performance.now() - t).toBeLessThan(1000);
  });
});

// ─── Client authentication failures (RFC 6749 §5.2) ──────────────────────────────────────────────

describe('client authentication failures (RFC 6749 §5.2)', () => {
  async function challengeOf(res: Response): Promise<{ status: number; error: string; challenge: string | null; cacheControl: string | null }> {
    return { ...(await errorOf(res)), challenge: res.headers.get('www-authenticate'), cacheControl: res.headers.get('cache-control') };
  }

  it('a failed client authentication answers 401 invalid_client with a Basic challenge: a wrong secret in the Authorization header', async () => {
    const sim = await start({ clientType: 'confidential' });
    const { client, tokens } = await link(sim);

    const res = await refresh(sim, { ...client, secret: 'wrong' }, tokens.refresh_token!);

    expect(client.method).toBe('client_secret_basic');
    expect(await challengeOf(res)).toEqual({ status: 401, error: 'invalid_client', challenge: 'Basic realm="longport-simulator"', cacheControl: 'no-store' });
  });

  it.each([
    ['a wrong secret in the body', { clientType: 'confidential', confidentialAuthMethod: 'client_secret_post' } as SimulatorOptions, (c: Client) => ({ ...c, secret: 'wrong' })],
    ['no secret from a client_secret_post client', { clientType: 'confidential', confidentialAuthMethod: 'client_secret_post' } as SimulatorOptions, (c: Client) => ({ ...c, method: 'none' as const })],
    ['an unknown client_id in the body', {} as SimulatorOptions, (c: Client) => ({ ...c, id: 'ghost' })],
  ])('a failed client authentication answers 401 invalid_client with a Basic challenge: %s', async (_name, opts, tamper) => {
    const sim = await start(opts);
    const { client, tokens } = await link(sim);

    const res = await refresh(sim, tamper(client), tokens.refresh_token!);

    expect(await challengeOf(res)).toEqual({ status: 401, error: 'invalid_client', challenge: 'Basic realm="longport-simulator"', cacheControl: 'no-store' });
    expect(sim.stats.refreshGrants).toBe(0);
  });

  it('a failed client authentication answers 401 invalid_client with a Basic challenge: at the revocation endpoint too', async () => {
    const sim = await start({ clientType: 'confidential' });
    const { client, tokens } = await link(sim);

    const res = await tokenCall(`${sim.url}/oauth2/revoke`, { ...client, secret: 'wrong' }, { token: tokens.refresh_token! });

    expect(await challengeOf(res)).toEqual({ status: 401, error: 'invalid_client', challenge: 'Basic realm="longport-simulator"', cacheControl: 'no-store' });
    expect(sim.stats.revocations).toEqual([]);
  });

  it('a client must not use more than one authentication method per request: credentials in the header and the body are invalid_request', async () => {
    const sim = await start({ clientType: 'confidential' });
    const { client, tokens } = await link(sim);

    const res = await tokenCall(`${sim.url}/oauth2/token`, client, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_secret: client.secret! });

    expect(await errorOf(res)).toEqual({ status: 400, error: 'invalid_request' });
  });

  it('a simulated 401 carries the challenge of its endpoint: Basic at revocation, Bearer invalid_token at registration', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ revocationStatus: 401, registrationStatus: 401 });

    const revocation = await tokenCall(`${sim.url}/oauth2/revoke`, client, { token: tokens.refresh_token! });
    const registration = await register(sim);

    expect(await challengeOf(revocation)).toMatchObject({ status: 401, error: 'invalid_client', challenge: 'Basic realm="longport-simulator"' });
    expect(await challengeOf(registration)).toMatchObject({ status: 401, error: 'invalid_token', challenge: 'Bearer error="invalid_token"' });
  });
});

// ─── Client secret expiry and rotation ───────────────────────────────────────────────────────────

describe('client secret expiry and rotation (RFC 7591 client_secret_expires_at, RFC 7592 read)', () => {
  async function registerConfidential(sim: LongPortSimulator): Promise<{ reg: Registered; client: Client }> {
    const reg = (await (await register(sim)).json()) as Registered;
    return { reg, client: { id: reg.client_id, secret: reg.client_secret!, method: reg.token_endpoint_auth_method as Client['method'] } };
  }

  async function readClient(reg: Registered): Promise<Response> {
    return fetch(reg.registration_client_uri!, { headers: { authorization: `Bearer ${reg.registration_access_token}` } });
  }

  it('a client secret authenticates only while it is current and unexpired: with clientSecretTtlS registration states client_secret_expires_at, and the secret fails once it passes', async () => {
    const sim = await start({ clientType: 'confidential', clientSecretTtlS: 600 });
    const { reg, client } = await registerConfidential(sim);
    const { tokens } = await link(sim, client);
    const before = await refresh(sim, client, tokens.refresh_token!);
    const { refresh_token } = (await before.json()) as Tokens;
    now = T0 + 600_000;

    const after = await refresh(sim, client, refresh_token!);
    const body = (await after.json()) as { error: string; error_description: string };

    expect(reg.client_secret_expires_at).toBe(Math.floor(T0 / 1000) + 600);
    expect(before.status).toBe(200);
    expect(after.status).toBe(401);
    expect(body).toEqual({ error: 'invalid_client', error_description: 'client secret expired' });
    expect(after.headers.get('www-authenticate')).toMatch(/^Basic /);
  });

  it('rotateClientSecret: the old secret stops working at once, the new one works, and an RFC 7592 read answers it', async () => {
    const sim = await start({ clientType: 'confidential' });
    const { reg, client } = await registerConfidential(sim);
    const { tokens } = await link(sim, client);

    const rotated = sim.rotateClientSecret(client.id, { expiresInS: 3600 });
    const withOld = await refresh(sim, client, tokens.refresh_token!);
    const read = (await (await readClient(reg)).json()) as Registered;
    const withNew = await refresh(sim, { ...client, secret: read.client_secret! }, tokens.refresh_token!);

    expect(rotated.client_secret).not.toBe(client.secret);
    expect(rotated.client_secret_expires_at).toBe(Math.floor(T0 / 1000) + 3600);
    expect(await errorOf(withOld)).toEqual({ status: 401, error: 'invalid_client' });
    expect(read).toMatchObject({ client_id: client.id, client_secret: rotated.client_secret, client_secret_expires_at: rotated.client_secret_expires_at });
    expect(withNew.status).toBe(200);
    expect(sim.stats.clientsRead).toEqual([client.id]);
  });

  it('a client secret authenticates only while it is current and unexpired, or retired and within its grace: rotateClientSecret with graceS, by the clock', async () => {
    const sim = await start({ clientType: 'confidential' });
    const { client } = await registerConfidential(sim);
    const { tokens } = await link(sim, client);
    sim.rotateClientSecret(client.id, { graceS: 30 });

    const inGrace = await refresh(sim, client, tokens.refresh_token!);
    const { refresh_token } = (await inGrace.json()) as Tokens;
    now = T0 + 30_000;
    const afterGrace = await refresh(sim, client, refresh_token!);

    expect(inGrace.status).toBe(200);
    expect(await errorOf(afterGrace)).toEqual({ status: 401, error: 'invalid_client' });
  });

  it('rotateClientSecret without expiresInS gives the new secret the clientSecretTtlS lifetime, counted from the rotation', async () => {
    const sim = await start({ clientType: 'confidential', clientSecretTtlS: 60 });
    const { client } = await registerConfidential(sim);
    now = T0 + 50_000;

    const rotated = sim.rotateClientSecret(client.id);

    expect(rotated.client_secret_expires_at).toBe(Math.floor((T0 + 50_000) / 1000) + 60);
  });

  it('rotateClientSecret refuses a public client and an unknown one', async () => {
    const sim = await start();
    const client = await registerClient(sim);

    expect(() => sim.rotateClientSecret(client.id)).toThrow(/public client/);
    expect(() => sim.rotateClientSecret('ghost')).toThrow(/unknown client/);
  });

  it('registrationAccessTokenRotation: a rotated registration access token replaces the old one at once', async () => {
    const sim = await start({ registrationAccessTokenRotation: true });
    const reg = (await (await register(sim)).json()) as Registered;

    const first = (await (await readClient(reg)).json()) as Registered;
    const withOld = await readClient(reg);
    const withNew = await readClient(first);

    expect(first.registration_access_token).not.toBe(reg.registration_access_token);
    expect(withOld.status).toBe(401);
    expect(withNew.status).toBe(200);
  });
});

// ─── RFC 7592 update ─────────────────────────────────────────────────────────────────────────────

describe('client configuration update (RFC 7592 §2.2)', () => {
  async function update(reg: Registered, body: Record<string, unknown>, token = reg.registration_access_token): Promise<Response> {
    return fetch(reg.registration_client_uri!, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  }

  function metadataOf(reg: Registered): Record<string, unknown> {
    return { client_id: reg.client_id, redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] };
  }

  it('PUT replaces the metadata (an omitted client_name is deleted), keeps the secret and the grants, and answers the client information', async () => {
    const sim = await start({ clientType: 'confidential' });
    const reg = (await (await register(sim)).json()) as Registered;
    const client: Client = { id: reg.client_id, secret: reg.client_secret!, method: 'client_secret_basic' };
    const { tokens } = await link(sim, client);
    const other = 'https://broker.example/oauth/other';

    const res = await update(reg, { ...metadataOf(reg), redirect_uris: [REDIRECT_URI, other], client_secret: reg.client_secret });
    const answer = (await res.json()) as Registered;

    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(answer).toMatchObject({ client_id: reg.client_id, redirect_uris: [REDIRECT_URI, other], client_secret: reg.client_secret, token_endpoint_auth_method: 'client_secret_basic' });
    expect(answer).not.toHaveProperty('client_name');
    expect(sim.clients.get(reg.client_id)!.redirect_uris).toEqual([REDIRECT_URI, other]);
    expect(sim.stats.clientsUpdated).toEqual([reg.client_id]);
    expect((await refresh(sim, client, tokens.refresh_token!)).status).toBe(200);
  });

  it.each([
    ['a server-set field (registration_access_token)', (reg: Registered) => ({ ...metadataOf(reg), registration_access_token: reg.registration_access_token })],
    ['a server-set field (client_id_issued_at)', (reg: Registered) => ({ ...metadataOf(reg), client_id_issued_at: 1 })],
    ['another client_id', (reg: Registered) => ({ ...metadataOf(reg), client_id: 'someone-else' })],
    ['no client_id', (reg: Registered) => ({ ...metadataOf(reg), client_id: undefined })],
    ['a client_secret that is not the current one', (reg: Registered) => ({ ...metadataOf(reg), client_secret: 'chosen-by-the-client' })],
    ['an unsupported grant type', (reg: Registered) => ({ ...metadataOf(reg), grant_types: ['client_credentials'] })],
  ])('PUT refuses %s with invalid_client_metadata and changes nothing', async (_name, body) => {
    const sim = await start({ clientType: 'confidential' });
    const reg = (await (await register(sim)).json()) as Registered;
    const before = structuredClone(sim.clients.get(reg.client_id));

    const res = await update(reg, body(reg));

    expect(await errorOf(res)).toEqual({ status: 400, error: 'invalid_client_metadata' });
    expect(sim.clients.get(reg.client_id)).toEqual(before);
    expect(sim.stats.clientsUpdated).toEqual([]);
  });

  it('PUT without redirect_uris is invalid_redirect_uri', async () => {
    const sim = await start();
    const reg = (await (await register(sim)).json()) as Registered;

    const res = await update(reg, { ...metadataOf(reg), redirect_uris: undefined });

    expect(await errorOf(res)).toEqual({ status: 400, error: 'invalid_redirect_uri' });
  });

  it('PUT needs the registration access token', async () => {
    const sim = await start();
    const reg = (await (await register(sim)).json()) as Registered;

    const res = await update(reg, metadataOf(reg), 'nope');

    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  });

  it('the client configuration endpoint answers 405 with Allow for methods other than GET, PUT and DELETE', async () => {
    const sim = await start();
    const reg = (await (await register(sim)).json()) as Registered;

    const res = await fetch(reg.registration_client_uri!, { method: 'POST', headers: { authorization: `Bearer ${reg.registration_access_token}` } });

    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, PUT, DELETE');
  });
});

// ─── Transient revocation and registration faults ────────────────────────────────────────────────

describe('transient revocation and registration faults', () => {
  it('fault revocationStatus 503 with revocationFailCount: 503 with Retry-After that many times, then revocation works and the fault heals', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ revocationStatus: 503, revocationFailCount: 2, retryAfterS: 5 });

    const answers: { status: number; retryAfter: string | null }[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await tokenCall(`${sim.url}/oauth2/revoke`, client, { token: tokens.refresh_token! });
      answers.push({ status: res.status, retryAfter: res.headers.get('retry-after') });
    }

    expect(answers).toEqual([
      { status: 503, retryAfter: '5' },
      { status: 503, retryAfter: '5' },
      { status: 200, retryAfter: null },
    ]);
    expect(sim.stats.revocations).toEqual([tokens.refresh_token]);
    expect(sim.faults).toEqual({ retryAfterS: 5 });
  });

  it('fault registrationStatus 503 with registrationFailCount counts RFC 7591 and RFC 7592 requests together, each with Retry-After', async () => {
    const sim = await start();
    const reg = (await (await register(sim)).json()) as Registered;
    sim.setFaults({ registrationStatus: 503, registrationFailCount: 2 });

    const registration = await register(sim);
    const read = await fetch(reg.registration_client_uri!, { headers: { authorization: `Bearer ${reg.registration_access_token}` } });
    const healed = await register(sim);

    expect(await errorOf(registration)).toEqual({ status: 503, error: 'temporarily_unavailable' });
    expect(registration.headers.get('retry-after')).toBe('2');
    expect(read.status).toBe(503);
    expect(healed.status).toBe(201);
    expect(sim.stats.registrations).toBe(2);
    expect(sim.faults).toEqual({});
  });

  it('a simulated discovery 503 carries Retry-After', async () => {
    const sim = await start();
    sim.setFaults({ discoveryStatus: 503, retryAfterS: 1 });

    const res = await fetch(`${sim.url}/.well-known/oauth-authorization-server`);

    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
  });

  it('stats.requests counts every request per endpoint, whatever its answer', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ revocationStatus: 500 });

    await tokenCall(`${sim.url}/oauth2/revoke`, client, { token: tokens.refresh_token! });
    await callApi(sim, tokens.access_token);

    // link: discovery twice (register, exchange), a registration, authorize and login, a code exchange
    expect(sim.stats.requests).toEqual({ discovery: 2, authorize: 2, token: 1, revocation: 1, registration: 1, api: 1 });
  });
});

// ─── Hangs: accepted, never answered ─────────────────────────────────────────────────────────────

describe('fault hang: the endpoint accepts requests and never answers', () => {
  const settled = (p: Promise<Response>) => p.then((r) => r.status, () => 'dropped' as const);

  it('a hung token request is never answered nor processed, and is dropped when faults are reset', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ hang: ['token'] });

    const pending = settled(refresh(sim, client, tokens.refresh_token!));
    const hung = await sim.requestHung();
    const discoveryMeanwhile = await fetch(`${sim.url}/.well-known/oauth-authorization-server`);
    sim.resetFaults();
    const retry = await refresh(sim, client, tokens.refresh_token!);

    expect(hung.endpoint).toBe('token');
    expect(discoveryMeanwhile.status).toBe(200);
    expect(await pending).toBe('dropped');
    expect(retry.status).toBe(200);
    expect(sim.stats.refreshGrants).toBe(1);
    expect(sim.stats.reuseDetected).toBe(0);
    expect(sim.stats.hungRequests).toEqual(['token']);
  });

  it.each<[SimulatorEndpoint, (sim: LongPortSimulator, reg: Registered) => Promise<Response>]>([
    ['discovery', (sim) => fetch(`${sim.url}/.well-known/oauth-authorization-server`)],
    ['registration', (sim) => register(sim)],
    ['revocation', (sim, reg) => tokenCall(`${sim.url}/oauth2/revoke`, { id: reg.client_id, method: 'none' }, { token: 'x' })],
    ['authorize', (sim, reg) => fetch(authorizeUrl(sim, { id: reg.client_id, method: 'none' }), { redirect: 'manual' })],
    ['api', (sim) => fetch(`${sim.url}/v1/quote/get_security_list`)],
  ])('hang %s: its requests hang until the endpoint leaves the list; nothing is processed', async (endpoint, call) => {
    const sim = await start();
    const reg = (await (await register(sim)).json()) as Registered;
    sim.setFaults({ hang: [endpoint] });

    const pending = settled(call(sim, reg));
    const hung = await sim.requestHung();
    sim.setFaults({ hang: undefined });

    expect(hung.endpoint).toBe(endpoint);
    expect(await pending).toBe('dropped');
    expect(sim.stats.registrations).toBe(1);
    expect(sim.stats.revocations).toEqual([]);
    expect(sim.stats.apiCalls).toBe(0);
    expect((await call(sim, reg)).status).toBeLessThan(500);
  });

  it('an endpoint leaving the hang list drops only its own hung requests', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.setFaults({ hang: ['token', 'revocation'] });

    const token = settled(refresh(sim, client, tokens.refresh_token!));
    const revocation = settled(tokenCall(`${sim.url}/oauth2/revoke`, client, { token: tokens.refresh_token! }));
    const hung = [await sim.requestHung(), await sim.requestHung()].map((h) => h.endpoint).sort();
    sim.setFaults({ hang: ['revocation'] });
    const tokenOutcome = await token;
    sim.setFaults({ hang: undefined });

    expect(hung).toEqual(['revocation', 'token']);
    expect(tokenOutcome).toBe('dropped');
    expect(await revocation).toBe('dropped');
    expect(sim.stats.revocations).toEqual([]);
  });

  it('drop() ends one hung request; close() ends the others', async () => {
    const sim = await startLongPortSimulator();
    sim.setFaults({ hang: ['discovery'] });
    const first = settled(fetch(`${sim.url}/.well-known/oauth-authorization-server`));
    const second = settled(fetch(`${sim.url}/.well-known/oauth-authorization-server`));

    (await sim.requestHung()).drop();
    const firstOutcome = await first;
    await sim.requestHung();
    await sim.close();

    expect(firstOutcome).toBe('dropped');
    expect(await second).toBe('dropped');
  });
});

// ─── Taking the provider down ────────────────────────────────────────────────────────────────────

describe('takeDown and bringUp', () => {
  it('takeDown refuses connections and cuts in-flight ones; bringUp serves the same issuer with the same state', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    const issuer = sim.issuer;
    sim.setFaults({ hang: ['api'] });
    const inFlight = callApi(sim, tokens.access_token).then(() => 'answered', () => 'cut');
    await sim.requestHung();

    await sim.takeDown();
    const whileDown = await new Promise((resolve) => {
      const socket = connect(sim.port, '127.0.0.1', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code));
    });
    const listeningWhileDown = sim.listening;
    await sim.bringUp();
    sim.resetFaults();

    expect(await inFlight).toBe('cut');
    expect(whileDown).toBe('ECONNREFUSED');
    expect(listeningWhileDown).toBe(false);
    expect(sim.listening).toBe(true);
    expect(sim.issuer).toBe(issuer);
    expect((await discover(sim)).issuer).toBe(issuer);
    expect((await callApi(sim, tokens.access_token)).status).toBe(200);
    expect((await refresh(sim, client, tokens.refresh_token!)).status).toBe(200);
  });

  it('takeDown and bringUp are idempotent, concurrent bringUps share one listen, and a closed simulator cannot be brought up again', async () => {
    const sim = await startLongPortSimulator();

    await sim.takeDown();
    await sim.takeDown();
    await Promise.all([sim.bringUp(), sim.bringUp()]);
    await sim.bringUp();
    const up = (await fetch(`${sim.url}/.well-known/oauth-authorization-server`)).status;
    await sim.close();

    expect(up).toBe(200);
    await expect(sim.bringUp()).rejects.toThrow(/closed/);
  });
});

// ─── Holds: crash tests at an exact phase ────────────────────────────────────────────────────────

describe('holdTokenRequests: a token request stopped at a phase until released', () => {
  it('held at received: nothing is processed until the release, then the request is answered', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.holdTokenRequests('received');

    const answer = refresh(sim, client, tokens.refresh_token!);
    const held = await sim.tokenRequestHeld();
    const grantsWhileHeld = sim.stats.refreshGrants;
    const ended = await held.release();

    expect(held.phase).toBe('received');
    expect(held.record).toMatchObject({ grantType: 'refresh_token', clientId: client.id });
    expect(grantsWhileHeld).toBe(0);
    expect(ended.status).toBe(200);
    expect((await answer).status).toBe(200);
    expect(sim.stats.refreshGrants).toBe(1);
  });

  it('a token request held at received whose caller left is never processed', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.holdTokenRequests('received');
    const abort = new AbortController();

    const gaveUp = refresh(sim, client, tokens.refresh_token!, abort.signal).catch(() => 'aborted');
    const held = await sim.tokenRequestHeld();
    abort.abort();
    await held.callerGone;
    const ended = await held.release();
    const retry = await refresh(sim, client, tokens.refresh_token!);

    expect(await gaveUp).toBe('aborted');
    expect(ended.status).toBe(0);
    expect(retry.status).toBe(200);
    expect(sim.stats.refreshGrants).toBe(1);
    expect(sim.stats.reuseDetected).toBe(0);
  });

  it('a token request held at received whose caller was killed (SIGKILL) is never processed', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.holdTokenRequests('received');
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: client.id }).toString();
    const caller = spawn(process.execPath, [
      '-e',
      `fetch(process.argv[1], { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: process.argv[2] })`,
      `${sim.url}/oauth2/token`,
      body,
    ]);

    const held = await sim.tokenRequestHeld();
    caller.kill('SIGKILL');
    await held.callerGone;
    const ended = await held.release();

    expect(ended.status).toBe(0);
    expect(sim.stats.refreshGrants).toBe(0);
    expect((await refresh(sim, client, tokens.refresh_token!)).status).toBe(200);
  });

  it('a token request held at processed is committed; if its caller left, the answer is lost and the old refresh token is reuse', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.holdTokenRequests('processed');
    const abort = new AbortController();

    const gaveUp = refresh(sim, client, tokens.refresh_token!, abort.signal).catch(() => 'aborted');
    const held = await sim.tokenRequestHeld();
    const grantsWhileHeld = sim.stats.refreshGrants;
    abort.abort();
    await held.callerGone;
    const ended = await held.release();
    const retry = await refresh(sim, client, tokens.refresh_token!);

    expect(held.phase).toBe('processed');
    expect(grantsWhileHeld).toBe(1);
    expect(await gaveUp).toBe('aborted');
    expect(ended.status).toBe(0);
    expect(await errorOf(retry)).toEqual({ status: 400, error: 'invalid_grant' });
    expect(sim.stats.reuseDetected).toBe(1);
  });

  it('held at processed and released: the committed answer is sent, and its refresh token is the current one', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.holdTokenRequests('processed');

    const answer = refresh(sim, client, tokens.refresh_token!);
    const held = await sim.tokenRequestHeld();
    const ended = await held.release();
    const refreshed = (await (await answer).json()) as Tokens;
    const next = await refresh(sim, client, refreshed.refresh_token!);

    expect(ended.status).toBe(200);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(next.status).toBe(200);
    expect(sim.stats.reuseDetected).toBe(0);
  });

  it('holds apply to their grant type only, count down, and can stop one request at both phases', async () => {
    const sim = await start();
    const client = await registerClient(sim);
    sim.holdTokenRequests('received', { grantType: 'refresh_token', count: 2 });
    sim.holdTokenRequests('processed', { grantType: 'refresh_token' });

    const { tokens } = await link(sim, client);
    const first = refresh(sim, client, tokens.refresh_token!);
    const atReceived = await sim.tokenRequestHeld();
    void atReceived.release();
    const atProcessed = await sim.tokenRequestHeld();
    await atProcessed.release();
    const rotated = ((await (await first).json()) as Tokens).refresh_token!;
    const second = refresh(sim, client, rotated);
    const secondHeld = await sim.tokenRequestHeld();
    await secondHeld.release();
    const third = await refresh(sim, client, ((await (await second).json()) as Tokens).refresh_token!);

    expect(sim.stats.codeGrants).toBe(1);
    expect([atReceived.phase, atProcessed.phase, secondHeld.phase]).toEqual(['received', 'processed', 'received']);
    expect(atProcessed.record).toBe(atReceived.record);
    expect(third.status).toBe(200);
  });

  it('drop() destroys the connection of a held request; releaseHeldTokenRequests releases the others and disarms the rest', async () => {
    const sim = await start();
    const { client, tokens } = await link(sim);
    sim.holdTokenRequests('received', { count: 3 });

    const dropped = refresh(sim, client, tokens.refresh_token!).then(() => 'answered', () => 'dropped');
    const droppedRecord = await (await sim.tokenRequestHeld()).drop();
    const released = refresh(sim, client, tokens.refresh_token!);
    await sim.tokenRequestHeld();
    sim.releaseHeldTokenRequests();
    const rotated = ((await (await released).json()) as Tokens).refresh_token!;
    const notHeld = await refresh(sim, client, rotated);

    expect(await dropped).toBe('dropped');
    expect(droppedRecord.status).toBe(0);
    expect(notHeld.status).toBe(200);
    expect(sim.stats.refreshGrants).toBe(2);
  });

  it('close() ends held requests without processing them', async () => {
    const sim = await startLongPortSimulator();
    const client = await registerClient(sim);
    const { tokens } = await link(sim, client);
    sim.holdTokenRequests('received');

    const pending = refresh(sim, client, tokens.refresh_token!).then(() => 'answered', () => 'dropped');
    const held = await sim.tokenRequestHeld();
    await sim.close();

    expect(await pending).toBe('dropped');
    expect((await held.release()).status).toBe(0);
    expect(sim.stats.refreshGrants).toBe(0);
  });
});

// ─── npm run simulator ───────────────────────────────────────────────────────────────────────────

describe('npm run simulator (bin/simulator.ts)', () => {
  it('--port 0 starts it on a free port; the first line names the issuer, which serves discovery; SIGTERM stops it cleanly', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/simulator.ts', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! });
    const exited = once(child, 'exit');

    const [first] = (await once(lines, 'line')) as [string];
    const issuer = /^issuer (http:\/\/127\.0\.0\.1:\d+)$/.exec(first)?.[1];
    const d = (await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()) as Discovery;
    child.kill('SIGTERM');
    const [code] = await exited;

    expect(issuer).toBeDefined();
    expect(d.issuer).toBe(issuer);
    expect(code).toBe(0);
  });

  it('a --port that is not a port number is refused with exit code 2', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/simulator.ts', '--port', 'eighty'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

    const [code] = await once(child, 'exit');

    expect(code).toBe(2);
    expect(stderr).toContain('--port must be a port number');
  });
});
