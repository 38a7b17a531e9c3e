/**
 * A path that is not in canonical form is refused with 400 before anything else happens, in AWS
 * mode (through the real Lambda handlers, with the raw path API Gateway passes on) and in the local
 * server (raw request lines, as `curl --path-as-is` sends them). IAM's `*` in an invoke grant
 * matches `/` too, so without this rule a path could match one tenant's grant and, once resolved,
 * reach another tenant's route.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nonCanonicalReason } from '../lib/http/canonical-path.js';
import { HTTP_FUNCTIONS } from '../lib/http/route-table.js';
import type { LongPortSimulator } from '../simulator/longport-simulator.js';
import { linkAccount } from './support/flow.js';
import { serveHarness } from './support/http-server.js';
import { useLambdaDeployment } from './support/lambda-deployment.js';

/** The attack of the finding: acme's grant matches it, and resolved it is tenant conf's token route. */
const CROSS_TENANT = '/v1/tenants/acme/accounts/x/%2e%2e/%2e%2e/%2e%2e/conf/accounts/c1/token';
const TOKEN_ROUTE_KEY = 'GET /v1/tenants/{tenant}/accounts/{account}/token';

/** The same escape in every spelling, and the other non-canonical forms. */
const NON_CANONICAL: [string, string][] = [
  ['encoded dot segments', CROSS_TENANT],
  ['literal dot segments', '/v1/tenants/acme/accounts/x/../../../conf/accounts/c1/token'],
  ['upper-case encoded dots', '/v1/tenants/acme/accounts/x/%2E%2E/%2E%2E/%2E%2E/conf/accounts/c1/token'],
  ['mixed %2E. and .%2e', '/v1/tenants/acme/accounts/x/%2E./.%2e/%2e./conf/accounts/c1/token'],
  ['a single-dot segment', '/v1/tenants/conf/./accounts/c1/token'],
  ['an encoded slash', '/v1/tenants/acme%2f..%2f..%2fconf/accounts/c1/token'],
  ['an upper-case encoded slash', '/v1/tenants/conf/accounts/c1%2Ftoken'],
  ['an encoded percent', '/v1/tenants/conf/accounts/c1/%252e%252e/token'],
  ['a doubled slash', '/v1/tenants/conf//accounts/c1/token'],
  ['a trailing slash', '/v1/tenants/conf/accounts/c1/token/'],
  ['a backslash', '/v1/tenants/acme/accounts/x/..\\..\\..\\conf/accounts/c1/token'],
];

describe('the canonical-path rule', () => {
  it.each(NON_CANONICAL)('%s is not canonical', (_what, path) => {
    expect(nonCanonicalReason(path)).toBeDefined();
  });

  it.each(['/healthz', '/openapi.json', '/oauth/callback', '/v1/tenants/acme', '/v1/tenants/a.b-c_d/accounts/x.y/token', '/'])('%s is canonical', (path) => {
    expect(nonCanonicalReason(path)).toBeUndefined();
  });
});

describe('AWS mode: the real Lambda handlers refuse a non-canonical rawPath with 400', () => {
  const lambda = useLambdaDeployment();
  let sim: LongPortSimulator;
  beforeAll(async () => {
    ({ sim } = await lambda.deploy());
    for (const [tenant, account] of [['acme', 'x'], ['conf', 'c1']] as const) {
      expect((await lambda.registerTenant(tenant)).status).toBe(201);
      expect((await lambda.linkAccount(tenant, account)).callback.status).toBe(200);
    }
  });
  afterAll(async () => sim?.close());

  it("the finding's event, for an IAM principal granted acme, is 400 and never serves conf's token", async () => {
    const answer = await lambda.send('token', {
      method: 'GET',
      url: '/v1/tenants/acme/accounts/x/token',
      rawPath: CROSS_TENANT,
      routeKey: TOKEN_ROUTE_KEY,
      pathParameters: { tenant: 'acme', account: 'x' },
    });

    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ error: 'invalid_request' });
    expect(answer.body).not.toContain('access_token');
  });

  it("conf's token is served through its own canonical path (the fixture is real)", async () => {
    const answer = await lambda.send('token', { method: 'GET', url: '/v1/tenants/conf/accounts/c1/token' });

    expect(answer.status).toBe(200);
  });

  it.each(HTTP_FUNCTIONS.flatMap((fn) => NON_CANONICAL.map(([what, rawPath]) => [fn, what, rawPath] as const)))(
    'functions/%s.ts refuses %s with 400 invalid_request',
    async (fn, _what, rawPath) => {
      const answer = await lambda.send(fn, { method: 'GET', url: '/v1/tenants/acme', rawPath, routeKey: TOKEN_ROUTE_KEY, pathParameters: { tenant: 'acme', account: 'x' } });

      expect(answer.status).toBe(400);
      expect(answer.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('canonical') });
    },
  );

  it('a path API Gateway matched with other path parameters than the canonical path holds is refused (the function acts on the path IAM authorized, or nothing)', async () => {
    const answer = await lambda.send('token', {
      method: 'GET',
      url: '/v1/tenants/conf/accounts/c1/token',
      routeKey: TOKEN_ROUTE_KEY,
      pathParameters: { tenant: 'acme', account: 'x' },
    });

    expect(answer.status).toBe(400);
    expect(answer.body).not.toContain('access_token');
  });
});

describe('local mode: the server refuses a non-canonical request line with 400', () => {
  const SERVICE_KEY_ACME = 'svc-acme-canonical-0123456789';
  let served: Awaited<ReturnType<typeof serveHarness>>;
  beforeAll(async () => {
    served = await serveHarness({ env: { BROKER_API_KEYS: JSON.stringify({ [SERVICE_KEY_ACME]: { tenants: ['acme'], role: 'service' } }) } });
    await linkAccount(served.h, 'conf', 'c1');
  });
  afterAll(async () => served?.close());

  /** A GET whose request line carries `path` byte for byte (no URL resolution on the way). */
  const rawGet = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: served.server.port, method: 'GET', path, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  it.each(NON_CANONICAL)('%s is 400 invalid_request and serves no token', async (_what, path) => {
    const answer = await rawGet(path, { authorization: `Bearer ${SERVICE_KEY_ACME}` });

    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('canonical') });
    expect(answer.body).not.toContain('access_token');
  });

  it('the canonical path of a token route still answers (the server is really serving)', async () => {
    const answer = await rawGet('/v1/tenants/conf/accounts/c1/token', { authorization: `Bearer ${served.h.deps.config.local.adminToken}` });

    expect(answer.status).toBe(200);
  });
});
