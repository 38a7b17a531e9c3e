import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { BrokerError } from '../errors.js';
import type { Logger } from '../log.js';

/** The one place a failure becomes `{ error, error_description }`; unknown failures say nothing internal. */
export function errorResponse(c: Context, err: unknown, log: Logger): Response {
  const e = toBrokerError(err);
  if (e.status >= 500) log.error('request.failed', { method: c.req.method, route: c.req.routePath, status: e.status, err: err instanceof Error ? err : e });
  else log.info('request.rejected', { method: c.req.method, route: c.req.routePath, status: e.status, error: e.code });
  if (e.retryAfterS !== undefined) c.header('Retry-After', String(e.retryAfterS));
  if (e.status === 401) c.header('WWW-Authenticate', 'Bearer realm="longport-token-broker"');
  c.header('Cache-Control', 'no-store');
  return c.json({ error: e.code, error_description: e.description }, e.status);
}

export function toBrokerError(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  if (err instanceof HTTPException) {
    // hono's own rejections: malformed JSON, body limit
    if (err.status === 413) return new BrokerError('payload_too_large', 413, 'the request body is too large');
    if (err.status >= 400 && err.status < 500) return new BrokerError('invalid_request', 400, err.message || 'malformed request');
  }
  // AWS throttling or a passing service fault (after the SDK's own retries): worth a retry soon
  const name = (err as { name?: string } | null)?.name ?? '';
  if (TRANSIENT_AWS_ERRORS.has(name)) return new BrokerError('temporarily_unavailable', 503, 'the broker is busy; try again shortly', { cause: err, retryAfterS: 1 });
  return new BrokerError('server_error', 500, 'internal error', { cause: err });
}

const TRANSIENT_AWS_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TransactionConflictException',
]);
