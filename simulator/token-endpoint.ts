/**
 * The token endpoint (RFC 6749 §3.2) as the caller meets it: every request is recorded; holds let a
 * test stop it before it is processed or after (`token-holds.ts`); the token faults in force decide
 * whether it is dropped, delayed, refused or answered with garbage; then the grant (`grants.ts`) runs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorContext } from './context.js';
import type { TokenRequestRecord } from './types.js';
import { NO_STORE, connectionClosed, dropConnection, headerValue, mediaType, parseForm, readBody, sendJson, sendOAuthError } from './http-io.js';
import { simulatedFailure, takeTokenFaults } from './faults.js';
import { grant, type TokenAnswer } from './grants.js';
import { parseBasic } from './client-authentication.js';
import { OAuthError } from './oauth-error.js';

export async function token(ctx: SimulatorContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  const record = describeTokenRequest(req, body);
  ctx.stats.tokenRequests.push(record);
  try {
    await answerTokenRequest(ctx, req, res, body, record);
  } finally {
    ctx.holds.ended(record);
  }
}

async function answerTokenRequest(ctx: SimulatorContext, req: IncomingMessage, res: ServerResponse, body: string, record: TokenRequestRecord): Promise<void> {
  const drop = () => {
    record.status = 0;
    dropConnection(req, res);
  };
  // Precondition: a token request held at `received` whose caller left is never processed.
  if ((await ctx.holds.at('received', record, req, res)) === 'caller_gone') return drop();

  const faults = takeTokenFaults(ctx.faults);
  if (faults.dropBeforeProcessing) return drop();
  if (faults.slowMs !== undefined && faults.slowMs > 0) {
    await ctx.delay(faults.slowMs);
    // Like a request stuck in a queue: a caller that gave up is never processed upstream.
    if (connectionClosed(req, res)) return drop();
  }
  if (faults.tokenStatus !== undefined) {
    record.status = faults.tokenStatus;
    return simulatedFailure(ctx.faults, res, 'token', faults.tokenStatus);
  }
  if (faults.malformedJson) {
    record.status = 200;
    const broken = '{"access_token":"at_trunc';
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(broken), ...NO_STORE });
    return void res.end(broken);
  }

  const outcome = processGrant(ctx, req, body);
  const failed = outcome instanceof OAuthError;
  if (!failed && faults.dropAfterRotate) return drop();
  // Precondition: a token request held at `processed` is committed; if its caller left, the answer is lost.
  if ((await ctx.holds.at('processed', record, req, res)) === 'caller_gone') return drop();
  record.status = failed ? outcome.status : 200;
  if (failed) sendOAuthError(res, outcome);
  else sendJson(res, 200, outcome, NO_STORE);
}

/** Runs the grant; an OAuth error (RFC 6749 §5.2) is returned as the outcome to answer. */
function processGrant(ctx: SimulatorContext, req: IncomingMessage, body: string): TokenAnswer | OAuthError {
  try {
    return grant(ctx, req, parseForm(req, body));
  } catch (err) {
    if (err instanceof OAuthError) return err;
    throw err;
  }
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
