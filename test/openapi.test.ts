import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { openApiDocument } from '../lib/http/openapi.js';
import { adminHeaders, startHarness, type Harness } from './support/harness.js';

type Operation = { responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }> };
type Document = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
const ERROR_REF = '#/components/schemas/Error';
const SERVICE_KEY_OF_ANOTHER_TENANT = 'svc-key-of-tenant-other-0123456789';

let h: Harness;
let doc: Document;

beforeAll(async () => {
  h = await startHarness({ env: { BROKER_API_KEYS: JSON.stringify({ [SERVICE_KEY_OF_ANOTHER_TENANT]: { tenants: ['other'], role: 'service' } }) } });
  const res = await h.app.request('/openapi.json');
  expect(res.status).toBe(200);
  doc = (await res.json()) as Document;
});

afterAll(async () => h?.close());

/** Every method and path the Hono app routes to a handler (middleware is registered as method ALL). */
function servedRoutes(): string[] {
  const routes = h.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
  return [...new Set(routes)].sort();
}

function documentedRoutes(): string[] {
  return Object.entries(doc.paths)
    .flatMap(([path, item]) => Object.keys(item).filter((m) => METHODS.includes(m)).map((m) => `${m} ${path}`))
    .sort();
}

const v1Operations = () => documentedRoutes().filter((r) => r.split(' ')[1]!.startsWith('/v1/'));

describe('the OpenAPI document at /openapi.json', () => {
  it('is the document `npm run openapi` makes of the route table (run it after changing a route or a schema)', () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

    expect(doc).toEqual(openApiDocument(version));
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();

    const result = await validator.validate(doc as unknown as Record<string, unknown>);

    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(doc.openapi).toMatch(/^3\.1\./);
  });

  it('documents every route the app serves, and no route it does not serve', () => {
    const served = servedRoutes();
    const documented = documentedRoutes();

    const undocumented = served.filter((r) => !documented.includes(r));
    const notServed = documented.filter((r) => !served.includes(r));

    expect({ undocumented, notServed }).toEqual({ undocumented: [], notServed: [] });
  });

  it('documents the routes of the contract', () => {
    const contract = [
      'put /v1/tenants/{tenant}',
      'get /v1/tenants/{tenant}',
      'delete /v1/tenants/{tenant}',
      'post /v1/tenants/{tenant}/accounts/{account}/link',
      'get /oauth/authorize',
      'get /oauth/callback',
      'get /v1/tenants/{tenant}/accounts/{account}/token',
      'post /v1/tenants/{tenant}/accounts/{account}/refresh',
      'get /v1/tenants/{tenant}/accounts',
      'get /v1/tenants/{tenant}/accounts/{account}',
      'delete /v1/tenants/{tenant}/accounts/{account}',
      'get /v1/tenants/{tenant}/audit',
      'get /healthz',
      'get /openapi.json',
    ];

    const documented = documentedRoutes();

    expect(contract.filter((r) => !documented.includes(r))).toEqual([]);
  });

  it('every /v1 operation documents 400, 401 and 403, and every error response of it uses the Error schema', () => {
    const problems: string[] = [];

    for (const route of v1Operations()) {
      const [method, path] = route.split(' ') as [string, string];
      const responses = doc.paths[path]![method]!.responses;
      for (const status of ['400', '401', '403']) if (!responses[status]) problems.push(`${route}: no ${status}`);
      for (const [status, response] of Object.entries(responses)) {
        if (Number(status) >= 400 && response.content?.['application/json']?.schema?.$ref !== ERROR_REF) problems.push(`${route}: ${status} is not the Error schema`);
      }
    }

    expect(v1Operations().length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    expect(doc.components.schemas.Error).toMatchObject({ type: 'object', required: expect.arrayContaining(['error', 'error_description']) });
  });

  it('every 4xx a /v1 operation answers to a bad request is one it documents, with an Error body', async () => {
    const probes: { name: string; headers: Record<string, string>; tenant: string; expect: number | undefined }[] = [
      { name: 'no credentials', headers: { 'content-type': 'application/json' }, tenant: 'acme', expect: 401 },
      { name: 'a service key of another tenant', headers: { authorization: `Bearer ${SERVICE_KEY_OF_ANOTHER_TENANT}`, 'content-type': 'application/json' }, tenant: 'acme', expect: 403 },
      { name: 'an identifier outside the contract', headers: adminHeaders, tenant: '-bad', expect: 400 },
      { name: 'an unknown tenant', headers: adminHeaders, tenant: 'ghost', expect: undefined },
    ];
    const answers: string[] = [];
    const problems: string[] = [];

    for (const [i, route] of v1Operations().entries()) {
      const [method, path] = route.split(' ') as [string, string];
      for (const probe of probes) {
        // a route that names no tenant (GET /v1/tenants, GET /v1/refresher) has no identifier to put outside the contract
        if (probe.tenant === '-bad' && !path.includes('{tenant}')) {
          answers.push(`${route} with ${probe.name}: not applicable`);
          continue;
        }
        const tenant = probe.tenant === 'ghost' ? `ghost-${i}` : probe.tenant;
        const url = `http://localhost:8787${path.replace('{tenant}', tenant).replace('{account}', 'nobody')}`;
        const body = method === 'put' ? JSON.stringify({ region: 'global' }) : method === 'post' ? '{}' : undefined;

        const res = await h.app.request(url, { method: method.toUpperCase(), headers: probe.headers, ...(body ? { body } : {}) });

        answers.push(`${route} with ${probe.name}: ${res.status}`);
        if (probe.expect !== undefined && res.status !== probe.expect) problems.push(`${route} with ${probe.name}: ${res.status}, expected ${probe.expect}`);
        if (res.status < 400 || res.status >= 500) continue;
        const documented = doc.paths[path]![method]!.responses[String(res.status)];
        if (documented?.content?.['application/json']?.schema?.$ref !== ERROR_REF) problems.push(`${route} with ${probe.name}: ${res.status} is not documented with the Error schema`);
        const answer = (await res.json()) as Record<string, unknown>;
        if (typeof answer.error !== 'string' || typeof answer.error_description !== 'string') problems.push(`${route} with ${probe.name}: body ${JSON.stringify(answer)}`);
      }
    }

    expect(answers.length).toBe(v1Operations().length * probes.length);
    expect(problems).toEqual([]);
  });
});
