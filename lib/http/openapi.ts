import * as z from 'zod/mini';
import { ROUTE_DOCS } from './route-docs.js';
import { ROUTE_LIST, type ErrorStatus, type ResponseDef, type Route } from './route-table.js';
import { ErrorBody } from './schemas.js';

/**
 * The OpenAPI 3.1 document of the API, made from the route table and its schemas (zod's JSON
 * Schema conversion; JSON Schema 2020-12 is OpenAPI 3.1's dialect). `npm run openapi` writes it to
 * `lib/http/openapi.json`, which the `meta` function serves as it is, so no function loads the
 * generator; a test fails when the written document and the table disagree.
 */
export const OPENAPI_VERSION = '3.1.0';

const ERROR_TEXT: Record<ErrorStatus, string> = {
  400: 'Bad input',
  401: 'No or bad caller credentials',
  403: 'Caller not allowed for this tenant',
  404: 'Unknown tenant or account',
  409: 'State conflict (e.g. reauth_required)',
  413: 'Body too large',
  502: 'The provider answered something unusable',
  503: 'The provider or a dependency is unavailable; see Retry-After',
};

type JsonSchema = Record<string, unknown>;
const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

export function openApiDocument(version: string): Record<string, unknown> {
  // every schema of the table made first (they are made on first use), so that every one registered
  // with an `id` (lib/http/schemas.ts) becomes a component, references between them kept
  ErrorBody();
  for (const route of ROUTE_LIST) schemasOf(route);
  const { schemas } = z.toJSONSchema(z.globalRegistry, { uri: (id) => `#/components/schemas/${id}`, io: 'input', unrepresentable: 'any' }) as { schemas: Record<string, JsonSchema> };
  const components = Object.fromEntries(Object.entries(schemas).map(([id, { $schema: _s, $id: _i, ...schema }]) => [id, schema]));
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTE_LIST) (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route);
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: 'longport-token-broker',
      version,
      description: 'OAuth 2.0 token broker for LongPort OpenAPI: tenants register their OAuth client, end users link their accounts, services get always-valid access tokens.',
    },
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        iam: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'AWS: SigV4-signed request (API Gateway IAM authorization)' },
        bearer: { type: 'http', scheme: 'bearer', description: 'Local mode: BROKER_ADMIN_TOKEN or a BROKER_API_KEYS key' },
      },
    },
  };
}

/** A route's schemas, made. */
function schemasOf(route: Route) {
  const { params, query, body } = route.request ?? {};
  const responses = Object.entries(route.responses as Record<string, ResponseDef>).map(([status, response]) => ({ status, response, schema: response.schema?.() }));
  return { params: params?.(), query: query?.(), body: body && { required: body.required, schema: body.schema() }, responses };
}

function operation(route: Route): Record<string, unknown> {
  const request = schemasOf(route);
  const parameters = [...parametersOf(request.params, 'path'), ...parametersOf(request.query, 'query')];
  const docs = ROUTE_DOCS[route.id] as { summary: string; description?: string; responses: Record<string, string> };
  const responses: Record<string, unknown> = {};
  for (const { status, response, schema } of request.responses) responses[status] = responseOf(response, schema, docs.responses[status]!);
  for (const status of route.errors) {
    responses[String(status)] = {
      description: ERROR_TEXT[status],
      content: route.browser ? { 'text/html': { schema: { type: 'string' } } } : { 'application/json': { schema: schemaOf(ErrorBody()) } },
    };
  }
  return {
    operationId: route.id,
    summary: docs.summary,
    ...(docs.description ? { description: docs.description } : {}),
    ...(route.caller === 'public' ? {} : { security: [{ iam: [] }, { bearer: [] }], 'x-caller-role': route.caller }),
    'x-lambda-function': route.fn,
    ...(parameters.length ? { parameters } : {}),
    ...(request.body ? { requestBody: { required: request.body.required, content: { 'application/json': { schema: schemaOf(request.body.schema) } } } } : {}),
    responses,
  };
}

function responseOf(response: ResponseDef, schema: z.ZodMiniType | undefined, description: string): Record<string, unknown> {
  if (response.html) return { description, content: { 'text/html': { schema: { type: 'string' } } } };
  if (!schema) return { description };
  return { description, content: { 'application/json': { schema: schemaOf(schema) } } };
}

/** A named schema by reference, any other inline. */
function schemaOf(schema: z.ZodMiniType): JsonSchema {
  const id = z.globalRegistry.get(schema)?.id;
  if (id) return ref(id);
  const { $schema: _s, ...inline } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return inline;
}

function parametersOf(object: z.ZodMiniObject | undefined, where: 'path' | 'query'): Record<string, unknown>[] {
  if (!object) return [];
  const json = z.toJSONSchema(object, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, { description, ...schema }]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    ...(description ? { description } : {}),
    schema,
  }));
}
