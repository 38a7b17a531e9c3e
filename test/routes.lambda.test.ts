/**
 * Every route of the route table, invoked through the Lambda function the table (and so the stack,
 * which reads the same table: test/infra) wires it to, with literal API Gateway v2 events in AWS
 * mode; and through every other function, which must not serve it.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { HTTP_FUNCTIONS, ROUTES, routeKey, type RouteId } from '../lib/http/route-table.js';
import type { LongPortSimulator } from '../simulator/longport-simulator.js';
import type { Answer, EventInit } from './support/apigw.js';
import { loginAtProvider, useLambdaDeployment } from './support/lambda-deployment.js';

const lambda = useLambdaDeployment();
const RETURN_ORIGIN = 'https://app.example.com';
const ACCOUNT = '/v1/tenants/acme/accounts/alice';

/** One request per route, in an order that makes each of them succeed; later steps read what earlier ones answered. */
interface Step {
  id: RouteId;
  status: number;
  event: () => EventInit;
  then?: (answer: Answer) => void;
}

let sim: LongPortSimulator;
let linkUrl = '';
let flow: { location: string; cookies: string[] } = { location: '', cookies: [] };
let linkSession = '';

const steps: Step[] = [
  { id: 'health', status: 200, event: () => ({ method: 'GET', url: '/healthz' }) },
  {
    id: 'openApi',
    status: 200,
    event: () => ({ method: 'GET', url: '/openapi.json' }),
    then: (a) => expect(a.json()).toEqual(JSON.parse(readFileSync(new URL('../lib/http/openapi.json', import.meta.url), 'utf8'))),
  },
  // a tenant that confirms its linkings, so that the walk takes the confirmation route too
  { id: 'putTenant', status: 201, event: () => ({ method: 'PUT', url: '/v1/tenants/acme', body: { region: 'global', return_to_origins: [RETURN_ORIGIN], confirm_links: true } }) },
  { id: 'getTenant', status: 200, event: () => ({ method: 'GET', url: '/v1/tenants/acme' }) },
  {
    id: 'createLink',
    status: 201,
    event: () => ({ method: 'POST', url: `${ACCOUNT}/link`, body: { return_to: `${RETURN_ORIGIN}/done` } }),
    then: (a) => (linkUrl = a.json<{ link_url: string }>().link_url),
  },
  {
    id: 'authorize',
    status: 302,
    event: () => ({ method: 'GET', url: linkUrl }),
    then: (a) => (flow = { location: a.location!, cookies: a.cookiePairs() }),
  },
  {
    id: 'callback',
    status: 303,
    // the provider's part happens between the two broker steps
    event: () => ({ method: 'GET', url: flow.location, cookies: flow.cookies }),
    then: (a) => {
      const back = new URL(a.location!);
      expect(`${back.origin}${back.pathname}?status=${back.searchParams.get('status')}&account=${back.searchParams.get('account')}`).toBe(`${RETURN_ORIGIN}/done?status=confirm&account=alice`);
      linkSession = back.searchParams.get('link_session')!;
    },
  },
  {
    id: 'confirmLink',
    status: 200,
    event: () => ({ method: 'POST', url: `${ACCOUNT}/link/confirm`, body: { link_session: linkSession } }),
    then: (a) => expect(a.json()).toMatchObject({ account: 'alice', status: 'linked' }),
  },
  { id: 'getToken', status: 200, event: () => ({ method: 'GET', url: `${ACCOUNT}/token` }) },
  { id: 'refreshToken', status: 200, event: () => ({ method: 'POST', url: `${ACCOUNT}/refresh` }) },
  { id: 'listAccounts', status: 200, event: () => ({ method: 'GET', url: '/v1/tenants/acme/accounts' }) },
  { id: 'getAccount', status: 200, event: () => ({ method: 'GET', url: ACCOUNT }) },
  { id: 'readAudit', status: 200, event: () => ({ method: 'GET', url: '/v1/tenants/acme/audit' }) },
  {
    id: 'listTenants',
    status: 200,
    event: () => ({ method: 'GET', url: '/v1/tenants?limit=10' }),
    then: (a) => expect(a.json()).toEqual({ tenants: [{ tenant: 'acme', region: 'global', client_type: 'public', accounts: { linked: 1, needs_reauth: 0 }, state: 'active' }] }),
  },
  {
    id: 'refresherHealth',
    status: 200,
    event: () => ({ method: 'GET', url: '/v1/refresher' }),
    then: (a) => expect(a.json()).toEqual({ interval_s: 60 }),
  },
  { id: 'unlinkAccount', status: 204, event: () => ({ method: 'DELETE', url: ACCOUNT }) },
  { id: 'deleteTenant', status: 204, event: () => ({ method: 'DELETE', url: '/v1/tenants/acme' }) },
];

beforeAll(async () => {
  ({ sim } = await lambda.deploy());
  return () => sim.close();
});

describe('every route of the table through the Lambda function that serves it', () => {
  it('the walk below covers every route of the table exactly once', () => {
    expect(steps.map((s) => s.id).sort()).toEqual((Object.keys(ROUTES) as RouteId[]).sort());
  });

  describe.each(steps.map((s) => [routeKey(ROUTES[s.id]), ROUTES[s.id].fn, s] as const))('%s', (_key, fn, step) => {
    it(`is not served by any function but functions/${fn}.ts (404 from each of the others)`, async () => {
      if (step.id === 'callback') flow.location = await loginAtProvider(flow.location);
      const others = HTTP_FUNCTIONS.filter((name) => name !== fn);

      const answers = await Promise.all(others.map(async (name) => [name, (await lambda.send(name, step.event())).status] as const));

      expect(Object.fromEntries(answers)).toEqual(Object.fromEntries(others.map((name) => [name, 404])));
    });

    it(`functions/${fn}.ts serves it: ${step.status}`, async () => {
      const answer = await lambda.send(fn, step.event());

      expect({ status: answer.status, body: answer.status >= 400 ? answer.body : '' }).toEqual({ status: step.status, body: '' });
      step.then?.(answer);
    });
  });
});
