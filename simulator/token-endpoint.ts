/**
 * The token endpoint (RFC 6749 §3.2) as the caller meets it: every request is recorded, then the
 * token faults in force decide whether it is dropped, delayed, refused or answered with garbage,
 * before the grant itself (`grants.ts`) runs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorContext } from './context.js';
import type { TokenRequestRecord } from './types.js';
import { NO_STORE, callerGone, dropConnection, headerValue, mediaType, parseForm, readBody, sendJson } from './http-io.js';
import { errorCodeForStatus, takeTokenFaults } from './faults.js';
import { grant, type TokenAnswer } from './grants.js';
import { parseBasic } from './client-authentication.js';
import { OAuthError } from './oauth-error.js';

export async function token(ctx: SimulatorContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  const record = describeTokenRequest(req, body);
  ctx.stats.tokenRequests.push(record);
  const faults = takeTokenFaults(ctx.faults);
  const drop = () => {
    record.status = 0;
    dropConnection(req, res);
  };

  if (faults.dropBeforeProcessing) return drop();
  if (faults.slowMs !== undefined && faults.slowMs > 0) {
    await ctx.delay(faults.slowMs);
    // Like a request stuck in a queue: a caller that gave up is never processed upstream.
    if (callerGone(req, res)) return drop();
  }
  if (faults.tokenStatus !== undefined) {
    record.status = faults.tokenStatus;
    const retry = faults.tokenStatus === 429 || faults.tokenStatus === 503;
    return sendJson(
      res,
      faults.tokenStatus,
      { error: errorCodeForStatus(faults.tokenStatus), error_description: 'simulated upstream failure' },
      { ...NO_STORE, ...(retry ? { 'Retry-After': String(ctx.faults.retryAfterS ?? 2) } : {}) },
    );
  }
  if (faults.malformedJson) {
    record.status = 200;
    const broken = '{"access_token":"at_trunc';
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(broken), ...NO_STORE });
    return void res.end(broken);
  }

  let answer: TokenAnswer;
  try {
    answer = grant(ctx, req, parseForm(req, body));
  } catch (err) {
    if (err instanceof OAuthError) record.status = err.status;
    throw err;
  }
  if (faults.dropAfterRotate) return drop();
  record.status = 200;
  sendJson(res, 200, answer, NO_STORE);
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
