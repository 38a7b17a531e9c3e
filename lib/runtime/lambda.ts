import type { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import { canonicalPathError } from '../http/canonical-path.js';

/** What a payload-2.0 Lambda answers (enough of it for the wrapper's own answers). */
interface LambdaResult {
  statusCode: number;
  headers?: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

/**
 * A Hono app as an API Gateway HTTP API (payload 2.0) handler. The request path is checked exactly
 * as it arrived (`rawPath`) before the event becomes a URL, which would resolve dot segments:
 * a path that is not canonical is refused with 400 before anything else happens.
 */
export function lambdaHttpHandler(app: Hono<any>): (event: unknown, context: unknown) => Promise<LambdaResult> {
  const inner = handle(app) as unknown as (event: unknown, context: unknown) => Promise<LambdaResult>;
  return async (event, context) => {
    const rawPath = (event as { rawPath?: unknown } | null)?.rawPath;
    const refused = typeof rawPath === 'string' ? canonicalPathError(rawPath) : undefined;
    if (refused) {
      return {
        statusCode: 400,
        headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
        body: JSON.stringify({ error: refused.code, error_description: refused.description }),
        isBase64Encoded: false,
      };
    }
    return inner(event, context);
  };
}
