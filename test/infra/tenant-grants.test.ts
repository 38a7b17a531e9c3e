import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { assertTenantId, invokePaths } from '../../infra/routes.js';
import { actionsOf, iamMatches, logicalId, renderArn, resourcesOfStatement, roleStatements, synthBroker, type Statement } from './support.js';

const API_ID = 'a1b2c3d4e5';
const invokeArn = (method: string, path: string) => `arn:aws:execute-api:eu-west-1:111122223333:${API_ID}/$default/${method}${path}`;

/** Synthesizes the broker with one extra role, granted by `grant`, and returns what it may invoke. */
function grantedPatterns(grant: (stack: ReturnType<typeof synthBroker>['stack'], role: iam.Role) => void): string[] {
  const { template } = synthBroker({}, {
    extend: (stack) => {
      const role = new iam.Role(stack, 'CallerRole', { assumedBy: new iam.AccountRootPrincipal() });
      grant(stack, role);
    },
  });
  const apiRef = logicalId(template, 'AWS::ApiGatewayV2::Api', 'BrokerHttpApi');
  const statements: Statement[] = roleStatements(template, 'CallerRole');
  expect(statements.flatMap(actionsOf)).toEqual(['execute-api:Invoke']);
  return statements.flatMap(resourcesOfStatement).map((r) => renderArn(r, { [apiRef]: API_ID }));
}

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
});

describe('grantAdmin(role) without a tenant', () => {
  const patterns = grantedPatterns((stack, role) => stack.broker.grantAdmin(role));

  it('allows every tenant', () => {
    expect(allows(patterns, 'PUT', '/v1/tenants/acme')).toBe(true);
    expect(allows(patterns, 'DELETE', '/v1/tenants/globex/accounts/bob')).toBe(true);
    expect(allows(patterns, 'GET', '/v1/tenants/globex/audit')).toBe(true);
  });

  it('is still limited to the /v1 routes and their methods', () => {
    expect(allows(patterns, 'PATCH', '/v1/tenants/acme')).toBe(false);
    expect(allows(patterns, 'GET', '/oauth/callback')).toBe(false);
  });
});

describe('tenant ids in grants', () => {
  it.each(['*', 'acme*', 'ac?e', '', '-acme', 'acme/globex', 'a'.repeat(65), '${aws:username}', '.acme'])(
    'refuses %j: an IAM wildcard or a malformed id must never reach a policy',
    (tenant) => {
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
