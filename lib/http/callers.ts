import type { Context, MiddlewareHandler } from 'hono';
import { audit } from '../broker/audit-trail.js';
import { callerFromBearer, type Caller } from '../broker/callers.js';
import type { BrokerDeps } from '../broker/deps.js';
import { ID_PATTERN } from '../config.js';
import { BrokerError } from '../errors.js';
import type { AppEnv } from './app-env.js';

/**
 * Identifies the caller of every `/v1` route (mounted once, for `/v1/*`).
 * - AWS: API Gateway has already verified the SigV4 signature and the IAM policy on this exact,
 *   canonical path (per-tenant access is IAM's job); the principal comes from the request context.
 * - Local: `Authorization: Bearer` with the admin token or a `BROKER_API_KEYS` key.
 *
 * A caller refused a tenant (403, from the route's role check) is audited as `access.denied` in the
 * trail of the tenant it aimed at, before the answer goes out (a tenant that is not registered has no
 * trail: nothing is written). The caller is named by a label (`key:<fingerprint>`, an IAM ARN),
 * never by the key.
 */
export function identifyCaller(deps: BrokerDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // a request with no or unknown credentials writes nothing durable: identify throws before any write
    c.set('caller', identify(c, deps.config));
    await next();
    if (c.error instanceof BrokerError && c.error.code === 'forbidden') await recordDenied(deps, c, c.get('caller').id, c.error);
  };
}

function identify(c: Context<AppEnv>, config: BrokerDeps['config']): Caller {
  if (config.mode === 'aws') {
    const iam = c.env?.event?.requestContext?.authorizer?.iam;
    // defence in depth: a /v1 route reached without IAM authorization is refused
    if (!iam?.userArn) throw new BrokerError('unauthorized', 401, 'this route needs a SigV4-signed request (IAM authorization)');
    return { id: iam.userArn, role: 'admin', tenants: '*' };
  }
  const raw = c.env?.incoming?.rawHeaders;
  // on the local server the header is read from the request's raw headers: asking the Fetch
  // `Headers` for it builds them whole, which costs a token read served from memory several µs
  const presented = bearerOf(raw ? authorizationIn(raw) : (c.req.header('authorization') ?? ''));
  if (!presented) throw new BrokerError('unauthorized', 401, 'send Authorization: Bearer <admin token or API key>');
  const caller = localCaller(presented, config);
  if (!caller) throw new BrokerError('unauthorized', 401, 'the bearer token is not a known admin token or API key');
  return caller;
}

/** The token an Authorization header presents as `Bearer <token>`, if it does. */
export const bearerOf = (header: string): string | undefined => BEARER.exec(header)?.[1];
const BEARER = /^Bearer ([\x21-\x7E]{1,512})$/;

/** Local mode: the caller a presented bearer token is (the admin token or a `BROKER_API_KEYS` key), if any. */
export const localCaller = (presented: string, config: BrokerDeps['config']): Caller | undefined => callerFromBearer(presented, config.local.adminToken, config.local.apiKeys);

/**
 * The Authorization header of a request's raw headers (Node.js's `rawHeaders`: name, value, …);
 * two of them are none (as the Fetch `Headers` would join them, which no bearer pattern matches).
 */
export function authorizationIn(raw: string[]): string {
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 13 || name.toLowerCase() !== 'authorization') continue;
    if (found !== undefined) return '';
    found = raw[i + 1];
  }
  return found ?? '';
}

/**
 * Writes `access.denied` for a request aimed at a well-formed tenant id. The denial stands even
 * when the record cannot be written (refusing is always safe); the failure is logged.
 */
async function recordDenied(deps: BrokerDeps, c: Context<AppEnv>, callerId: string, err: BrokerError): Promise<void> {
  const { tenant, account } = c.get('access') ?? {};
  if (!tenant || !ID_PATTERN.test(tenant)) return;
  const route = c.get('route');
  const entry = { caller: callerId, outcome: `${err.code}:${route.method} ${route.path}`, ...(account ? { account } : {}) };
  try {
    await audit(deps, tenant, 'access.denied', entry);
  } catch (auditErr) {
    deps.log.error('audit.write_failed', { tenant, action: 'access.denied', err: auditErr });
  }
}

/** ms epoch by which a handler must answer: the Lambda's remaining time less a margin, else 10 s. */
export function deadlineOf(c: { env?: AppEnv['Bindings'] }, now: number): number {
  const remaining = c.env?.lambdaContext?.getRemainingTimeInMillis?.();
  return now + (typeof remaining === 'number' ? Math.max(0, remaining - 1000) : 10_000);
}
