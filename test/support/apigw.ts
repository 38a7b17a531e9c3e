/**
 * Literal API Gateway HTTP API events (payload format 2.0) and a fake Lambda context, so tests can
 * drive the real `functions/*.ts` handlers exactly as API Gateway would, and a reader for what the
 * handlers answer. Shapes follow
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 */
import { randomBytes } from 'node:crypto';
import { matchRoute as matchTableRoute, routeKey } from '../../lib/http/route-table.js';

/** `requestContext.authorizer.iam` of an HTTP API route with IAM authorization. */
export interface IamPrincipal {
  accessKey: string;
  accountId: string;
  callerId: string;
  cognitoIdentity: null;
  principalOrgId: string | null;
  userArn: string;
  userId: string;
}

/** The caller every /v1 event carries unless a test says otherwise: a role session of another account. */
export const TEST_PRINCIPAL: IamPrincipal = {
  accessKey: 'ASIAEXAMPLEACCESSKEY',
  accountId: '111122223333',
  callerId: 'AROAEXAMPLEROLEID:tenant-backend',
  cognitoIdentity: null,
  principalOrgId: null,
  userArn: 'arn:aws:sts::111122223333:assumed-role/tenant-backend/session-1',
  userId: 'AROAEXAMPLEROLEID:tenant-backend',
};

/** An API Gateway HTTP API payload 2.0 event, as a Lambda function receives it. */
export interface ApiGatewayV2Event {
  version: '2.0';
  routeKey: string;
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  pathParameters?: Record<string, string>;
  body?: string;
  isBase64Encoded: boolean;
  requestContext: {
    accountId: string;
    apiId: string;
    authorizer?: { iam: IamPrincipal };
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: string;
    stage: string;
    time: string;
    timeEpoch: number;
  };
}

/** The Lambda context fields the broker reads. */
export interface LambdaContext {
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  awsRequestId: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis(): number;
}

/** What a payload-2.0 Lambda answers. */
export interface LambdaResult {
  statusCode: number;
  headers?: Record<string, string>;
  cookies?: string[];
  body: string;
  isBase64Encoded: boolean;
}

/** A `functions/*.ts` handler, called the way the Lambda runtime calls it. */
export type LambdaHandler = (event: unknown, context: LambdaContext) => Promise<LambdaResult>;

/** `routeKey` and `pathParameters` API Gateway would give this request (from the route table); `$default` when no route matches. */
export function matchRoute(method: string, rawPath: string): { routeKey: string; pathParameters?: Record<string, string> } {
  const route = matchTableRoute(method, rawPath);
  if (!route) return { routeKey: '$default' };
  const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  if (names.length === 0) return { routeKey: routeKey(route) };
  const values = new RegExp(`^${route.path.replace(/\{\w+\}/g, '([^/]+)')}$`).exec(rawPath)!;
  return { routeKey: routeKey(route), pathParameters: Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(values[i + 1]!)])) };
}

export interface EventInit {
  method: string;
  /** An absolute URL on the API's domain, or a path with an optional query (`/oauth/callback?code=…`). */
  url: string;
  headers?: Record<string, string>;
  /** `name=value` pairs as API Gateway passes them (it moves the Cookie header here). */
  cookies?: string[];
  /** A string is sent as is; anything else as JSON with `content-type: application/json`. */
  body?: unknown;
  isBase64Encoded?: boolean;
  /** The IAM caller; `null` leaves `authorizer` out, as on the public `/oauth/*` routes. */
  iam?: IamPrincipal | null;
  sourceIp?: string;
  /** The path exactly as the client sent it (API Gateway passes it on unresolved), instead of the URL's. */
  rawPath?: string;
  /** The route API Gateway matched, when a test needs to say (default: matched from the route table). */
  routeKey?: string;
  pathParameters?: Record<string, string>;
}

/**
 * An HTTP API payload 2.0 event for the request. `/v1` requests carry {@link TEST_PRINCIPAL} as
 * their IAM authorizer unless `iam` says otherwise; other paths carry no authorizer.
 */
export function apiGatewayEvent(domainName: string, init: EventInit): ApiGatewayV2Event {
  const url = new URL(init.url, `https://${domainName}`);
  const method = init.method.toUpperCase();
  // a URL resolves dot segments; `rawPath` carries a path exactly as a client sent it
  const rawPath = init.rawPath ?? url.pathname;
  const rawQueryString = url.search.replace(/^\?/, '');
  const matched = matchRoute(method, rawPath);
  const routeKey = init.routeKey ?? matched.routeKey;
  const pathParameters = init.pathParameters ?? matched.pathParameters;
  const headers: Record<string, string> = {
    accept: '*/*',
    host: domainName,
    'user-agent': 'vitest',
    'x-amzn-trace-id': `Root=1-${randomBytes(4).toString('hex')}-${randomBytes(12).toString('hex')}`,
    'x-forwarded-for': init.sourceIp ?? '203.0.113.7',
    'x-forwarded-port': '443',
    'x-forwarded-proto': 'https',
  };
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    if (typeof init.body !== 'string') headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
  const iam = init.iam === undefined ? (rawPath.startsWith('/v1/') ? TEST_PRINCIPAL : null) : init.iam;
  const now = Date.now();
  // API Gateway decodes each parameter, and joins repeated ones with a comma
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    ...(init.cookies && init.cookies.length > 0 ? { cookies: init.cookies } : {}),
    headers,
    ...(rawQueryString ? { queryStringParameters: query } : {}),
    ...(pathParameters ? { pathParameters } : {}),
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: init.isBase64Encoded ?? false,
    requestContext: {
      accountId: '444455556666',
      apiId: domainName.split('.')[0]!,
      ...(iam ? { authorizer: { iam } } : {}),
      domainName,
      domainPrefix: domainName.split('.')[0]!,
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: init.sourceIp ?? '203.0.113.7', userAgent: 'vitest' },
      requestId: randomBytes(8).toString('base64url'),
      routeKey,
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
  };
}

/** A Lambda context with `remainingMs` left on the clock (29 s: API Gateway's integration time-out). */
export function lambdaContext(remainingMs = 29_000, functionName = 'longport-token-broker'): LambdaContext {
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:444455556666:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomBytes(16).toString('hex'),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/11/25/[$LATEST]0123456789abcdef',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => remainingMs,
  };
}

/** A Lambda answer, read for assertions. */
export interface Answer {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** `Set-Cookie` values as the handler returned them (payload 2.0 `cookies`). */
  cookies: string[];
  body: string;
  isBase64Encoded: boolean;
  location: string | undefined;
  json<T = Record<string, unknown>>(): T;
  /** The `cookies` of a next event: `name=value` of each cookie set and not cleared. */
  cookiePairs(): string[];
}

export function readResult(result: LambdaResult): Answer {
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const body = result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString('utf8') : result.body;
  const cookies = result.cookies ?? [];
  return {
    status: result.statusCode,
    headers,
    cookies,
    body,
    isBase64Encoded: result.isBase64Encoded,
    location: headers.location,
    json: <T>() => JSON.parse(body) as T,
    cookiePairs: () =>
      cookies
        .filter((c) => !/;\s*max-age=0\b/i.test(c) && !/expires=Thu, 01 Jan 1970/i.test(c))
        .map((c) => c.split(';')[0]!.trim()),
  };
}

/** Calls a handler with an event and a fresh context, and reads the answer. */
export async function invoke(handler: LambdaHandler, event: unknown, context: LambdaContext = lambdaContext()): Promise<Answer> {
  return readResult(await handler(event, context));
}

/** Lets a test pass a hono `handle()` export where a {@link LambdaHandler} is wanted. */
export const asLambdaHandler = (handler: unknown): LambdaHandler => handler as LambdaHandler;
