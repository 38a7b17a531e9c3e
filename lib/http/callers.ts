import type { MiddlewareHandler } from 'hono';
import { callerFromBearer, type Caller } from '../broker/callers.js';
import { BrokerError } from '../errors.js';
import type { AppEnv, DepsProvider } from './router.js';

/**
 * Identifies the caller of a `/v1` route.
 * - AWS: API Gateway has already verified the SigV4 signature and the IAM policy on this exact
 *   path (per-tenant access is IAM's job); the principal comes from the request context.
 * - Local: `Authorization: Bearer` with the admin token or a `BROKER_API_KEYS` key.
 */
export function identifyCaller(getDeps: DepsProvider): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { config } = getDeps();
    let caller: Caller | undefined;
    if (config.mode === 'aws') {
      const iam = c.env?.event?.requestContext?.authorizer?.iam;
      // defence in depth: a /v1 route reached without IAM authorization is refused
      if (!iam?.userArn) throw new BrokerError('unauthorized', 401, 'this route needs a SigV4-signed request (IAM authorization)');
      caller = { id: iam.userArn, role: 'admin', tenants: '*' };
    } else {
      const header = c.req.header('authorization') ?? '';
      const match = /^Bearer ([\x21-\x7E]{1,512})$/.exec(header);
      if (!match) throw new BrokerError('unauthorized', 401, 'send Authorization: Bearer <admin token or API key>');
      caller = callerFromBearer(match[1]!, config.local.adminToken, config.local.apiKeys);
      if (!caller) throw new BrokerError('unauthorized', 401, 'the bearer token is not a known admin token or API key');
    }
    c.set('caller', caller);
    await next();
  };
}

/** ms epoch by which a handler must answer: the Lambda's remaining time less a margin, else 10 s. */
export function deadlineOf(c: { env?: AppEnv['Bindings'] }, now: number): number {
  const remaining = c.env?.lambdaContext?.getRemainingTimeInMillis?.();
  return now + (typeof remaining === 'number' ? Math.max(0, remaining - 1000) : 10_000);
}
