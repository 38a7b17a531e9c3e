import { z } from '@hono/zod-openapi';
import { ID_PATTERN, REGIONS } from '../config.js';
import { AUDIT_CURSOR_PATTERN } from '../store/audit.js';

/** Shared request and response schemas: they validate input and make the OpenAPI document. */

export const Identifier = z.string().regex(ID_PATTERN, 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');

export const TenantParams = z.object({ tenant: Identifier.openapi({ param: { name: 'tenant', in: 'path' }, example: 'acme' }) });
export const AccountParams = TenantParams.extend({ account: Identifier.openapi({ param: { name: 'account', in: 'path' }, example: 'user-42' }) });

export const ErrorBody = z
  .object({ error: z.string().openapi({ example: 'invalid_request' }), error_description: z.string() })
  .openapi('Error');

export const Scope = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'must be an RFC 6749 scope').max(256);


export const TenantBody = z
  .object({
    tenant: z.string(),
    region: z.enum(REGIONS as [string, ...string[]]),
    issuer: z.string(),
    client_id: z.string(),
    client_type: z.enum(['public', 'confidential']),
    redirect_uri: z.string(),
    scope: z.string(),
    return_to_origins: z.array(z.string()),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Tenant');

export const CreateLinkBody = z.object({ return_to: z.string().max(2048).optional().openapi({ example: 'https://app.example.com/linked' }) }).strict().openapi('CreateLink');
export const LinkBody = z.object({ link_url: z.string(), expires_at: z.string() }).openapi('Link');

export const TokenQuery = z.object({
  min_ttl: z
    .string()
    .regex(/^\d{1,4}$/, 'must be a whole number of seconds')
    .transform(Number)
    .pipe(z.number().int().min(0).max(3000))
    .optional()
    .openapi({ param: { name: 'min_ttl', in: 'query' }, type: 'integer', example: 60 }),
});

export const TokenBody = z
  .object({
    access_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_at: z.string(),
    expires_in: z.number().int(),
    scope: z.string(),
  })
  .openapi('Token');

export const errorResponses = (...statuses: (400 | 401 | 403 | 404 | 409 | 413 | 502 | 503)[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: ERROR_TEXT[s], content: { 'application/json': { schema: ErrorBody } } }]));

const ERROR_TEXT: Record<number, string> = {
  400: 'Bad input',
  401: 'No or bad caller credentials',
  403: 'Caller not allowed for this tenant',
  404: 'Unknown tenant or account',
  409: 'State conflict (e.g. reauth_required)',
  413: 'Body too large',
  502: 'The provider answered something unusable',
  503: 'The provider or a dependency is unavailable; see Retry-After',
};

/** `/v1` routes: SigV4 (IAM) in AWS, a bearer key in local mode. */
export const callerSecurity: Record<string, string[]>[] = [{ iam: [] }, { bearer: [] }];

/** `PUT /v1/tenants/{tenant}`: registration, import, or settings of an existing tenant. */
export const PutTenantBody = z
  .object({
    region: z.enum(REGIONS as [string, ...string[]]).openapi({ example: 'global' }),
    scope: Scope.optional().openapi({ example: '3' }),
    return_to_origins: z.array(z.string().max(2048)).max(20).optional().openapi({ example: ['https://app.example.com'] }),
    client_id: z.string().min(1).max(256).optional(),
    client_secret: z.string().min(1).max(1024).optional(),
    token_endpoint_auth_method: z.enum(['none', 'client_secret_post', 'client_secret_basic']).optional(),
    change_region: z
      .boolean()
      .optional()
      .openapi({ description: 'Required to move an existing tenant to another region: a new client is registered there and every linked account becomes needs_reauth' }),
  })
  .strict()
  .refine((b) => b.client_secret === undefined || b.client_id !== undefined, { message: 'client_secret needs client_id', path: ['client_secret'] })
  .openapi('PutTenant');

export const AccountStatusSchema = z.enum(['linked', 'needs_reauth', 'revoked']);

const PageLimit = z
  .string()
  .regex(/^\d{1,3}$/, 'must be a whole number from 1 to 200')
  .transform(Number)
  .pipe(z.number().int().min(1).max(200))
  .optional()
  .openapi({ param: { name: 'limit', in: 'query' }, type: 'integer', description: 'Page size, default 50, at most 200', example: 50 });

export const AccountListQuery = z.object({
  limit: PageLimit,
  cursor: Identifier.optional().openapi({ param: { name: 'cursor', in: 'query' }, description: 'The `next` of the previous page' }),
  status: AccountStatusSchema.optional().openapi({ param: { name: 'status', in: 'query' } }),
});

export const AccountBody = z
  .object({
    account: z.string(),
    status: AccountStatusSchema,
    scope: z.string(),
    expires_at: z.string().openapi({ description: 'When the stored access token expires (ISO 8601)' }),
    refreshed_at: z.string(),
    linked_at: z.string(),
  })
  .openapi('Account');

export const AccountListBody = z.object({ accounts: z.array(AccountBody), next: z.string().optional() }).openapi('AccountList');

export const AuditQuery = z.object({
  account: Identifier.optional().openapi({ param: { name: 'account', in: 'query' } }),
  since: z.iso.datetime({ offset: true }).optional().openapi({ param: { name: 'since', in: 'query' }, example: '2026-11-25T00:00:00Z' }),
  limit: PageLimit,
  cursor: z.string().regex(AUDIT_CURSOR_PATTERN, 'must be the `next` of the previous page').optional().openapi({ param: { name: 'cursor', in: 'query' } }),
});

export const AuditEventBody = z
  .object({
    at: z.string(),
    action: z.string().openapi({ example: 'token.read' }),
    account: z.string().optional(),
    caller: z.string().openapi({ description: 'IAM principal ARN, `admin`, `key:<fingerprint>`, `anonymous` or `unknown-key`; never a key' }),
    outcome: z.string(),
  })
  .openapi('AuditEvent');

export const AuditListBody = z.object({ events: z.array(AuditEventBody), next: z.string().optional() }).openapi('AuditList');
