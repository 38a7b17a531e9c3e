/**
 * The authorization endpoint (RFC 6749 §4.1.1, RFC 7636 §4.3) and LongPort's login page: a GET
 * answers a self-submitting form, its POST to `/login` issues a single-use code and redirects back
 * with `code`, `state` and (RFC 9207) `iss`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorContext } from './context.js';
import type { ClientRecord } from './types.js';
import { errorPage, escapeHtml, parseForm, readBody, redirect, rejectDuplicates, sendHtml } from './http-io.js';
import type { OAuthError } from './oauth-error.js';
import { DEFAULT_SCOPE, LOGIN_PATH, scopeSupported } from './protocol.js';
import { random } from './secrets.js';

const CODE_TTL_MS = 60_000;
const LOGIN_TTL_MS = 10 * 60_000;
/** BASE64URL(SHA-256) is always 43 characters. */
const S256_CHALLENGE_RE = /^[A-Za-z0-9_-]{43}$/;

export function authorize(ctx: SimulatorContext, url: URL, res: ServerResponse): void {
  const q = url.searchParams;
  // RFC 6749 §4.1.2.1: with a bad client or redirect URI the user is told, never redirected.
  if (q.getAll('client_id').length > 1 || q.getAll('redirect_uri').length > 1) {
    return errorPage(res, 400, 'client_id and redirect_uri may appear only once.');
  }
  const client = ctx.state.clients.get(q.get('client_id') ?? '');
  if (!client) return errorPage(res, 400, 'Unknown client_id.');
  const redirectUri = q.get('redirect_uri');
  // Exact string match against the registered URIs (RFC 6749 §3.1.2.3).
  if (redirectUri === null || !client.redirect_uris.includes(redirectUri)) {
    return errorPage(res, 400, 'redirect_uri is missing or not registered for this client.');
  }

  const state = q.get('state');
  const fail = (error: string, description: string) =>
    redirect(res, 302, authorizationResponse(ctx, redirectUri, { error, error_description: description }, state));
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
  ctx.state.logins.set(loginId, {
    clientId: client.client_id,
    redirectUri,
    state,
    scope,
    codeChallenge: challenge,
    expiresAt: ctx.clock() + LOGIN_TTL_MS,
  });
  sendHtml(res, 200, loginPage(ctx, loginId, client, scope));
}

/**
 * LongPort's login page stands in for the real one: a form that posts back to this server and
 * submits itself, so a browser sees the same cross-site POST-then-redirect as in production.
 */
function loginPage(ctx: SimulatorContext, loginId: string, client: ClientRecord, scope: string): string {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><title>LongPort login</title></head><body>',
    '<h1>LongPort login</h1>',
    `<p>Simulated sign-in: <strong>${escapeHtml(client.client_name ?? client.client_id)}</strong> asks for scope ${escapeHtml(scope)}.</p>`,
    `<form method="POST" action="${escapeHtml(ctx.url + LOGIN_PATH)}">`,
    `<input type="hidden" name="login_id" value="${escapeHtml(loginId)}">`,
    '<button type="submit">Log in and authorize</button>',
    '</form>',
    '<script>document.forms[0].submit()</script>',
    '</body></html>',
  ].join('\n');
}

export async function login(ctx: SimulatorContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  let params: URLSearchParams;
  try {
    params = parseForm(req, body);
  } catch {
    return errorPage(res, 400, 'Malformed login form.');
  }
  const loginId = params.get('login_id') ?? '';
  const pending = ctx.state.logins.get(loginId);
  // The login form is single-use and short-lived, like a real login session.
  ctx.state.logins.delete(loginId);
  if (!pending || pending.expiresAt <= ctx.clock()) return errorPage(res, 400, 'This login session has expired; start again.');
  if (!ctx.state.clients.has(pending.clientId)) return errorPage(res, 400, 'Unknown client_id.');

  if (ctx.faults.authorizeError !== undefined) {
    const description = 'The user denied access <script>alert("longport")</script> & "left"';
    const back = authorizationResponse(ctx, pending.redirectUri, { error: ctx.faults.authorizeError, error_description: description }, pending.state);
    return redirect(res, 303, back);
  }
  const code = random(32);
  ctx.state.codes.set(code, {
    clientId: pending.clientId,
    redirectUri: pending.redirectUri,
    codeChallenge: pending.codeChallenge,
    scope: pending.scope,
    expiresAt: ctx.clock() + CODE_TTL_MS,
    used: false,
    familyId: null,
  });
  ctx.stats.authorizations += 1;
  redirect(res, 303, authorizationResponse(ctx, pending.redirectUri, { code }, pending.state));
}

/** The redirect back to the client: its query kept (RFC 6749 §3.1.2), state echoed, iss per RFC 9207 §2. */
function authorizationResponse(ctx: SimulatorContext, redirectUri: string, params: Record<string, string>, state: string | null): string {
  const target = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
  if (state !== null) target.searchParams.set('state', state);
  if (ctx.opts.sendIss !== false) target.searchParams.set('iss', ctx.issuer);
  return target.toString();
}
