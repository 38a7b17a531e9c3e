import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { IAM_INLINE_POLICY_LIMIT } from '../../infra/broker-api.js';
import { assertTenantId, invokePaths, ROUTES, routesFor, tenantGroup, type GrantLevel, type TenantSelector } from '../../infra/routes.js';
import { actionsOf, iamMatches, logicalId, policySize, renderArn, resourcesOf, resourcesOfStatement, synthBroker, type Statement } from './support.js';

const API_ID = 'a1b2c3d4e5';
const invokeArn = (method: string, path: string) => `arn:aws:execute-api:eu-west-1:111122223333:${API_ID}/$default/${method}${path}`;

type Stack = ReturnType<typeof synthBroker>['stack'];

/**
 * Synthesizes the broker with one extra grantee, an existing role of the account (the usual
 * grantee: its grants are one inline policy the stack attaches), granted by `grant`; returns its
 * invoke patterns and that policy's size.
 */
function grantedPolicy(grant: (stack: Stack, role: iam.IRole) => void): { patterns: string[]; size: number } {
  const { template } = synthBroker({}, {
    extend: (stack) => grant(stack, iam.Role.fromRoleArn(stack, 'CallerRole', 'arn:aws:iam::111122223333:role/caller')),
  });
  const apiRef = logicalId(template, 'AWS::ApiGatewayV2::Api', 'BrokerHttpApi');
  const policies = Object.values(resourcesOf(template, 'AWS::IAM::Policy')).filter((p) => (p.Properties!.Roles as unknown[]).includes('caller'));
  expect(policies).toHaveLength(1);
  const statements = policies[0]!.Properties!.PolicyDocument.Statement as Statement[];
  expect(statements.flatMap(actionsOf)).toEqual(['execute-api:Invoke']);
  const render = (r: unknown) => renderArn(r, { [apiRef]: API_ID });
  const rendered = statements.map((s) => ({ ...s, Resource: resourcesOfStatement(s).map(render) }));
  return { patterns: rendered.flatMap((s) => s.Resource), size: policySize({ Version: '2012-10-17', Statement: rendered }) };
}
const grantedPatterns = (grant: (stack: Stack, role: iam.IRole) => void): string[] => grantedPolicy(grant).patterns;

const allows = (patterns: string[], method: string, path: string) => patterns.some((p) => iamMatches(p, invokeArn(method, path)));

describe("grantTokenRead(role, 'acme')", () => {
  const patterns = grantedPatterns((stack, role) => stack.broker.grantTokenRead(role, 'acme'));

  it("allows acme's token path", () => {
    expect(allows(patterns, 'GET', '/v1/tenants/acme/accounts/alice/token')).toBe(true);
  });

  it("allows forcing a refresh of acme's accounts", () => {
    expect(allows(patterns, 'POST', '/v1/tenants/acme/accounts/alice/refresh')).toBe(true);
  });

  it("does not allow another tenant's token path (globex)", () => {
    expect(allows(patterns, 'GET', '/v1/tenants/globex/accounts/alice/token')).toBe(false);
    expect(allows(patterns, 'POST', '/v1/tenants/globex/accounts/alice/refresh')).toBe(false);
  });

  it('does not allow a tenant whose id merely starts with acme', () => {
    expect(allows(patterns, 'GET', '/v1/tenants/acme2/accounts/alice/token')).toBe(false);
    expect(allows(patterns, 'GET', '/v1/tenants/acme.eu/accounts/alice/token')).toBe(false);
  });

  it("does not allow acme's admin routes", () => {
    expect(allows(patterns, 'GET', '/v1/tenants/acme/accounts')).toBe(false);
    expect(allows(patterns, 'GET', '/v1/tenants/acme/accounts/alice')).toBe(false);
    expect(allows(patterns, 'DELETE', '/v1/tenants/acme/accounts/alice')).toBe(false);
    expect(allows(patterns, 'POST', '/v1/tenants/acme/accounts/alice/link')).toBe(false);
    expect(allows(patterns, 'PUT', '/v1/tenants/acme')).toBe(false);
    expect(allows(patterns, 'GET', '/v1/tenants/acme/audit')).toBe(false);
  });

  it('does not allow reading a token with another method', () => {
    expect(allows(patterns, 'DELETE', '/v1/tenants/acme/accounts/alice/token')).toBe(false);
  });

  it('is scoped to this API and its $default stage', () => {
    for (const p of patterns) expect(p.startsWith(`arn:aws:execute-api:eu-west-1:111122223333:${API_ID}/$default/`)).toBe(true);
  });
});

describe("grantAdmin(role, 'acme')", () => {
  const patterns = grantedPatterns((stack, role) => stack.broker.grantAdmin(role, 'acme'));

  it.each([
    ['PUT', '/v1/tenants/acme'],
    ['GET', '/v1/tenants/acme'],
    ['DELETE', '/v1/tenants/acme'],
    ['POST', '/v1/tenants/acme/accounts/alice/link'],
    ['GET', '/v1/tenants/acme/accounts/alice/token'],
    ['POST', '/v1/tenants/acme/accounts/alice/refresh'],
    ['GET', '/v1/tenants/acme/accounts'],
    ['GET', '/v1/tenants/acme/accounts/alice'],
    ['DELETE', '/v1/tenants/acme/accounts/alice'],
    ['GET', '/v1/tenants/acme/audit'],
  ])('allows %s %s', (method, path) => {
    expect(allows(patterns, method, path)).toBe(true);
  });

  it('allows nothing of another tenant', () => {
    expect(allows(patterns, 'PUT', '/v1/tenants/globex')).toBe(false);
    expect(allows(patterns, 'GET', '/v1/tenants/globex/accounts')).toBe(false);
    expect(allows(patterns, 'GET', '/v1/tenants/acmecorp/audit')).toBe(false);
  });

  it('reaches neither the tenant list nor the refresher health: those are for callers granted admin of every tenant', () => {
    expect(allows(patterns, 'GET', '/v1/tenants')).toBe(false);
    expect(allows(patterns, 'GET', '/v1/refresher')).toBe(false);
  });
});

describe('grantAdmin(role) without a tenant', () => {
  const patterns = grantedPatterns((stack, role) => stack.broker.grantAdmin(role));

  it('allows every tenant', () => {
    expect(allows(patterns, 'PUT', '/v1/tenants/acme')).toBe(true);
    expect(allows(patterns, 'DELETE', '/v1/tenants/globex/accounts/bob')).toBe(true);
    expect(allows(patterns, 'GET', '/v1/tenants/globex/audit')).toBe(true);
  });

  it('reaches the tenant list and the refresher health', () => {
    expect(allows(patterns, 'GET', '/v1/tenants')).toBe(true);
    expect(allows(patterns, 'GET', '/v1/refresher')).toBe(true);
  });

  it('is still limited to the /v1 routes', () => {
    expect(allows(patterns, 'GET', '/oauth/callback')).toBe(false);
    expect(allows(patterns, 'GET', '/healthz')).toBe(false);
  });
});

describe('a tenant group (tenantGroup("emea."))', () => {
  const reader = grantedPatterns((stack, role) => stack.broker.grantTokenRead(role, tenantGroup('emea.')));
  const admin = grantedPatterns((stack, role) => stack.broker.grantAdmin(role, tenantGroup('emea.')));

  it('reads the tokens of every tenant whose id starts with emea.', () => {
    expect(allows(reader, 'GET', '/v1/tenants/emea.acme/accounts/alice/token')).toBe(true);
    expect(allows(reader, 'POST', '/v1/tenants/emea.globex/accounts/bob/refresh')).toBe(true);
  });

  it('reads nothing of a tenant outside the group, even one whose id merely starts with emea', () => {
    expect(allows(reader, 'GET', '/v1/tenants/emeacorp/accounts/alice/token')).toBe(false);
    expect(allows(reader, 'GET', '/v1/tenants/acme/accounts/alice/token')).toBe(false);
    expect(allows(reader, 'GET', '/v1/tenants/emea.acme/accounts')).toBe(false);
  });

  it('administers every tenant of the group, and nothing else', () => {
    expect(allows(admin, 'PUT', '/v1/tenants/emea.acme')).toBe(true);
    expect(allows(admin, 'DELETE', '/v1/tenants/emea.acme/accounts/alice')).toBe(true);
    expect(allows(admin, 'PUT', '/v1/tenants/emeacorp')).toBe(false);
    expect(allows(admin, 'GET', '/v1/tenants/apac.acme/audit')).toBe(false);
    expect(allows(admin, 'GET', '/v1/tenants')).toBe(false);
    expect(allows(admin, 'GET', '/v1/refresher')).toBe(false);
  });

  it.each(['emea', '', '*.', 'emea*', 'em ea.', `${'a'.repeat(64)}.`])('refuses the group prefix %j (it must be a tenant id prefix ending in ".", "_" or "-")', (prefix) => {
    expect(() => tenantGroup(prefix)).toThrow(/invalid tenant group/);
  });
});

/**
 * Every route of ROUTES, with values for {tenant} and {account} chosen to trip wildcard matching
 * (segment names, prefixes of each other): a grant's patterns allow a route's canonical path
 * exactly when the grant means to. This is what makes the compact patterns (method `*`, a subtree
 * `/*`) safe for the routes that exist, and fails when a new route breaks them.
 */
describe('compact invoke patterns allow exactly the routes a grant means', () => {
  const TENANTS = ['acme', 'acme2', 'acme.eu', 'emea.acme', 'emeacorp', 'v1', 'tenants', 'accounts'];
  const ACCOUNTS = ['alice', 'token', 'refresh', 'link', 'accounts', 'acme', 'v1'];
  const inScope = (scope: TenantSelector | undefined, tenant: string) =>
    scope === undefined ? true : typeof scope === 'string' ? tenant === scope : tenant.startsWith(scope.prefix);
  const cases: [GrantLevel, TenantSelector | undefined][] = [
    ['service', 'acme'],
    ['service', tenantGroup('emea.')],
    ['admin', 'acme'],
    ['admin', tenantGroup('emea.')],
    ['admin', undefined],
  ];

  it.each(cases.map(([level, scope]) => [level, JSON.stringify(scope ?? 'every tenant'), scope] as const))('%s on %s', (level, _label, scope) => {
    const patterns = invokePaths(level as GrantLevel, scope).map((p) => `arn:aws:execute-api:eu-west-1:111122223333:${API_ID}/${p}`);
    const granted = new Set(routesFor(level as GrantLevel));
    let checked = 0;
    for (const route of ROUTES) {
      for (const tenant of route.path.includes('{tenant}') ? TENANTS : ['-']) {
        for (const account of route.path.includes('{account}') ? ACCOUNTS : ['-']) {
          const path = route.path.replace('{tenant}', tenant).replace('{account}', account);
          const meant = granted.has(route) && (route.path.includes('{tenant}') ? inScope(scope, tenant) : scope === undefined);
          expect(allows(patterns, route.method, path), `${route.method} ${path}`).toBe(meant);
          checked += 1;
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
  });
});

/**
 * IAM allows 10,240 characters of inline policy per role (all inline policies together, whitespace
 * not counted). Sizes below are of the synthesized policy, rendered with a 10-character API id in
 * eu-west-1.
 */
describe('grants that scale: 1,000 tenants', () => {
  const tenants = Array.from({ length: 1000 }, (_, i) => `g${i % 10}.tenant-${String(i).padStart(4, '0')}`);
  const groups = [...new Set(tenants.map((t) => t.slice(0, 3)))].map(tenantGroup);

  it('one service role reading 1,000 tenants in 10 tenant groups stays far within the inline policy limit', () => {
    const { patterns, size } = grantedPolicy((stack, role) => groups.forEach((g) => stack.broker.grantTokenRead(role, g)));
    console.info(`service role, 1,000 tenants in 10 groups: ${size} characters, ${patterns.length} resources`);
    expect(size).toBeLessThan(IAM_INLINE_POLICY_LIMIT / 3);
    for (const t of tenants.slice(0, 50)) expect(allows(patterns, 'GET', `/v1/tenants/${t}/accounts/a/token`)).toBe(true);
  });

  it('one admin role administering 1,000 tenants in 10 groups stays far within the limit', () => {
    const { patterns, size } = grantedPolicy((stack, role) => groups.forEach((g) => stack.broker.grantAdmin(role, g)));
    console.info(`admin role, 1,000 tenants in 10 groups: ${size} characters, ${patterns.length} resources`);
    expect(size).toBeLessThan(IAM_INLINE_POLICY_LIMIT / 3);
    for (const t of tenants.slice(0, 50)) expect(allows(patterns, 'DELETE', `/v1/tenants/${t}/accounts/a`)).toBe(true);
  });

  it('one admin role of every tenant is one resource, whatever the number of tenants', () => {
    const { patterns, size } = grantedPolicy((stack, role) => stack.broker.grantAdmin(role));
    console.info(`admin role, every tenant: ${size} characters`);
    expect(patterns).toHaveLength(1);
  });

  it.each(['grantTokenRead', 'grantAdmin'] as const)(
    '%s tenant by tenant fails synthesis, naming the way out, before the policy passes the limit (never at deploy)',
    (helper) => {
      let accepted = 0;
      let error: Error | undefined;
      const { size, patterns } = grantedPolicy((stack, role) => {
        try {
          for (const t of tenants) {
            stack.broker[helper](role, t);
            accepted += 1;
          }
        } catch (err) {
          error = err as Error;
        }
      });
      console.info(`${helper} one tenant at a time: ${accepted} tenants fit (${size} characters, ${patterns.length} resources, e.g. ${patterns[0]}) before synthesis refuses`);
      expect(error?.message).toMatch(/over IAM's 10240 per role: grant a tenant group/);
      expect(accepted).toBeGreaterThanOrEqual(40);
      expect(size).toBeLessThan(IAM_INLINE_POLICY_LIMIT);
    },
  );
});

describe('tenant ids in grants', () => {
  it.each(['*', 'acme*', 'ac?e', '', '-acme', 'acme/globex', 'a'.repeat(65), '${aws:username}', '.acme'])(
    'refuses %j: an IAM wildcard or a malformed id must never reach a policy',
    (tenant: string) => {
      expect(() => assertTenantId(tenant)).toThrow(/invalid tenant id/);
      expect(() => invokePaths('service', tenant)).toThrow(/invalid tenant id/);
    },
  );

  it('refuses a bad tenant in grantTokenRead before touching the policy', () => {
    expect(() =>
      synthBroker({}, { extend: (stack) => stack.broker.grantTokenRead(new iam.Role(stack, 'R', { assumedBy: new iam.AccountRootPrincipal() }), '*') }),
    ).toThrow(/invalid tenant id/);
  });

  it('accepts ids of the contract pattern', () => {
    for (const t of ['acme', 'Acme-1', 'a.b_c-d', 'a'.repeat(64)]) expect(() => assertTenantId(t)).not.toThrow();
  });
});
