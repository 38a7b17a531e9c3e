import * as z from 'zod/mini';
import { ID_PATTERN, REGIONS } from '../config.js';
import { AUDIT_CURSOR_PATTERN } from '../store/schema.js';

/**
 * The request and response schemas of the HTTP API. They validate input at run time (zod's
 * tree-shakable `zod/mini`, a few KiB in a bundle) and, at build time, make the OpenAPI document
 * (`npm run openapi`, through zod's own JSON Schema conversion). A schema with an `id` becomes a
 * named component of the document. The route table's schemas are made on first use ({@link LazySchema}).
 *
 * Messages are the broker's own words: a validation error never echoes a name or value that the
 * request supplied.
 */

/**
 * A schema made on first use, then kept. Every function's bundle carries the whole route table, but
 * a function validates only its own routes' input, and only the OpenAPI document reads the answers'
 * schemas: made at once, every schema of the API would cost each cold start about 10 ms.
 */
export type LazySchema<T extends z.ZodMiniType = z.ZodMiniType> = () => T;
const lazy = <T extends z.ZodMiniType>(make: () => T): LazySchema<T> => {
  let made: T | undefined;
  return () => (made ??= make());
};

const named = <T extends z.ZodMiniType>(schema: T, id: string, description?: string): T =>
  schema.check(z.meta({ id, ...(description ? { description } : {}) })) as T;
const doc = <T extends z.ZodMiniType>(schema: T, meta: Record<string, unknown>): T => schema.check(z.meta(meta)) as T;

export const Identifier = z.string().check(z.regex(ID_PATTERN, { error: 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }));

export const TenantParams = lazy(() => z.object({ tenant: doc(Identifier, { example: 'acme' }) }));
export const AccountParams = lazy(() => z.object({ tenant: doc(Identifier, { example: 'acme' }), account: doc(Identifier, { example: 'user-42' }) }));

export const ErrorBody = lazy(() => named(z.object({ error: doc(z.string(), { example: 'invalid_request' }), error_description: z.string() }), 'Error'));

/** RFC 6749 §3.3 scope: space-separated NQCHAR tokens. */
export const Scope = z.string().check(z.regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, { error: 'must be an RFC 6749 scope' }), z.maxLength(256, { error: 'must be at most 256 characters' }));

const Region = z.enum(REGIONS as [string, ...string[]], { error: `must be one of ${REGIONS.join(', ')}` });

const ClientType = z.enum(['public', 'confidential']);
const TenantStateSchema = z.enum(['active', 'moving', 'deleting']);

export const TenantBody = lazy(() =>
  named(
    z.object({
      tenant: z.string(),
      region: Region,
      issuer: z.string(),
      client_id: z.string(),
      client_type: ClientType,
      redirect_uri: z.string(),
      scope: z.string(),
      return_to_origins: z.array(z.string()),
      confirm_links: z.boolean(),
      created_at: z.string(),
      updated_at: z.string(),
      state: doc(z.enum(['active', 'moving', 'deleting']), { description: '`moving`: a region move is under way; `deleting`: the tenant is being deleted' }),
    }),
    'Tenant',
  ),
);

/** 202 of `DELETE /v1/tenants/{tenant}`: the deletion goes on in the background. */
export const TenantJobBody = lazy(() => named(z.object({ state: z.enum(['deleting']) }), 'TenantJob'));

/** `PUT /v1/tenants/{tenant}`: registration, import, or settings of an existing tenant. */
export const PutTenantBody = lazy(() =>
  named(
    z
      .strictObject(
        {
          region: doc(Region, { example: 'global' }),
          scope: z.optional(doc(Scope, { example: '3' })),
          return_to_origins: z.optional(
            doc(z.array(z.string().check(z.maxLength(2048, { error: 'must be at most 2048 characters' }))).check(z.maxLength(20, { error: 'takes at most 20 origins' })), {
              example: ['https://app.example.com'],
            }),
          ),
          confirm_links: z.optional(
            doc(z.boolean({ error: 'must be true or false' }), {
              description: "Each linking waits for the tenant's confirmation: the callback ends at return_to?status=confirm&account=…&link_session=…, and POST …/link/confirm links the account (within 10 minutes). Links then need a return_to",
            }),
          ),
          client_id: z.optional(z.string().check(z.minLength(1, { error: 'must not be empty' }), z.maxLength(256, { error: 'must be at most 256 characters' }))),
          client_secret: z.optional(z.string().check(z.minLength(1, { error: 'must not be empty' }), z.maxLength(1024, { error: 'must be at most 1024 characters' }))),
          token_endpoint_auth_method: z.optional(z.enum(['none', 'client_secret_post', 'client_secret_basic'], { error: 'must be none, client_secret_post or client_secret_basic' })),
          change_region: z.optional(
            doc(z.boolean({ error: 'must be true or false' }), {
              description: 'Required to move an existing tenant to another region: a new client is registered there and every linked account becomes needs_reauth',
            }),
          ),
        },
        { error: 'holds a field this route does not take (unrecognized field)' },
      )
      .check(
        z.refine((b) => b.client_secret === undefined || b.client_id !== undefined, { message: 'client_secret needs client_id', path: ['client_secret'] }),
      ),
    'PutTenant',
  ),
);

export const CreateLinkBody = lazy(() =>
  named(
    z.strictObject(
      { return_to: z.optional(doc(z.string().check(z.maxLength(2048, { error: 'must be at most 2048 characters' })), { example: 'https://app.example.com/linked' })) },
      { error: 'holds a field this route does not take (unrecognized field)' },
    ),
    'CreateLink',
  ),
);
export const LinkBody = lazy(() => named(z.object({ link_url: z.string(), expires_at: z.string() }), 'Link'));

/** `POST …/link/confirm`: the `link_session` the callback sent to the tenant's return_to (43 base64url characters). */
export const ConfirmLinkBody = lazy(() =>
  named(
    z.strictObject(
      {
        link_session: doc(z.string().check(z.regex(/^[A-Za-z0-9_-]{43}$/, { error: 'must be the link_session the callback sent to return_to' })), {
          description: 'The link_session parameter of return_to?status=confirm&account=…&link_session=…',
        }),
      },
      { error: 'holds a field this route does not take (unrecognized field)' },
    ),
    'ConfirmLink',
  ),
);

/** A whole number carried in a query string, checked as text first so that `1e3` or `+5` never pass. */
const queryInt = (max: number, digits: number, min = 0) =>
  z.pipe(
    z.string().check(z.regex(new RegExp(`^\\d{1,${digits}}$`), { error: `must be a whole number from ${min} to ${max}` })),
    z.pipe(z.transform(Number), z.number().check(z.minimum(min, { error: `must be a whole number from ${min} to ${max}` }), z.maximum(max, { error: `must be a whole number from ${min} to ${max}` }))),
  );

export const TokenQuery = lazy(() => z.object({ min_ttl: z.optional(doc(queryInt(3000, 4), { example: 60, description: 'Seconds of validity the token must have left (default 60)' })) }));

export const TokenBody = lazy(() =>
  named(
    z.object({ access_token: z.string(), token_type: z.literal('Bearer'), expires_at: z.string(), expires_in: z.number(), scope: z.string() }),
    'Token',
  ),
);

export const AccountStatusSchema = z.enum(['linked', 'needs_reauth'], { error: 'must be linked or needs_reauth' });

const PageLimit = z.optional(doc(queryInt(200, 3, 1), { description: 'Page size, default 50, at most 200', example: 50 }));

export const AccountListQuery = lazy(() =>
  z.object({
    limit: PageLimit,
    cursor: z.optional(doc(Identifier, { description: 'The `next` of the previous page' })),
    status: z.optional(AccountStatusSchema),
  }),
);

export const AccountBody = lazy(() =>
  named(
    z.object({
      account: z.string(),
      status: AccountStatusSchema,
      scope: z.string(),
      expires_at: doc(z.string(), { description: 'When the stored access token expires (ISO 8601)' }),
      refreshed_at: z.string(),
      linked_at: z.string(),
    }),
    'Account',
  ),
);

export const AccountListBody = lazy(() => named(z.object({ accounts: z.array(AccountBody()), next: z.optional(z.string()) }), 'AccountList'));

export const TenantListQuery = lazy(() => z.object({ limit: PageLimit, cursor: AccountListQuery().shape.cursor }));

export const TenantListBody = lazy(() =>
  named(
    z.object({
      tenants: z.array(
        named(z.object({ tenant: z.string(), region: Region, client_type: ClientType, accounts: z.object({ linked: z.number(), needs_reauth: z.number() }), state: TenantStateSchema }), 'TenantSummary'),
      ),
      next: z.optional(z.string()),
    }),
    'TenantList',
  ),
);

/** `failed` maps a reason to a count: described to OpenAPI through its metadata (a zod record would weigh on every bundle). */
const CountsByReason = doc(z.looseObject({}), { additionalProperties: { type: 'number' } });

export const RefresherHealthBody = lazy(() =>
  named(
    z.object({
      last_run: z.optional(z.object({ at: z.string(), due: z.number(), refreshed: z.number(), skipped: z.number(), failed: CountsByReason, duration_ms: z.number() })),
      interval_s: z.number(),
    }),
    'RefresherHealth',
  ),
);

export const TokenFingerprint = z.string().check(z.regex(/^[0-9a-f]{16}$/, { error: 'must be 16 lower-case hex characters (the first 16 of the SHA-256 of the access token)' }));

export const AuditQuery = lazy(() =>
  z.object({
    account: z.optional(Identifier),
    token_fingerprint: z.optional(doc(TokenFingerprint, { description: 'Only the `token.read` events of this token: every caller that received it', example: '3f2a9c0d5e6b7a81' })),
    since: z.optional(doc(z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }), { example: '2026-11-25T00:00:00Z' })),
    limit: PageLimit,
    cursor: z.optional(z.string().check(z.regex(AUDIT_CURSOR_PATTERN, { error: 'must be the `next` of the previous page' }))),
  }),
);

export const AuditEventBody = lazy(() =>
  named(
    z.object({
      at: z.string(),
      action: doc(z.string(), { example: 'token.read', description: 'tenant.register, tenant.update, tenant.delete, link.create, link.complete, token.read, token.reads, token.refresh, account.reauth, account.unlink, access.denied' }),
      account: z.optional(z.string()),
      caller: doc(z.string(), { description: 'IAM principal ARN, `admin` or `key:<fingerprint>`; never a key' }),
      outcome: z.string(),
      generation: z.optional(doc(z.number(), { description: 'The token generation a `token.read` or `token.reads` event is about' })),
      token_fingerprint: z.optional(doc(z.string(), { description: '`token.read`: the first 16 hex characters of the SHA-256 of the access token served' })),
      count: z.optional(doc(z.number(), { description: '`token.reads`: reads counted since the last such event of this instance' })),
    }),
    'AuditEvent',
  ),
);

export const AuditListBody = lazy(() => named(z.object({ events: z.array(AuditEventBody()), next: z.optional(z.string()) }), 'AuditList'));

export const HealthBody = lazy(() => z.object({ ok: z.literal(true) }));
/** The OpenAPI document itself (its own schema is the OpenAPI 3.1 specification). */
export const OpenApiBody = lazy(() => z.looseObject({ openapi: z.string() }));

export const AuthorizeQuery = lazy(() => z.object({ link: z.string() }));
export const CallbackQuery = lazy(() => z.object({ code: z.optional(z.string()), state: z.optional(z.string()), iss: z.optional(z.string()), error: z.optional(z.string()) }));
