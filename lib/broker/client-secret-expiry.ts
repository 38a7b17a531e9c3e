import { BrokerError, toBrokerError } from '../errors.js';
import { readRegisteredClient, type ClientCredentialsRead } from '../oauth/client.js';
import type { TenantRecord } from '../store/records.js';
import { clearNeedsOperator, markNeedsOperator, storeClientCredentials } from '../store/tenant-updates.js';
import { audit } from './audit-trail.js';
import { openRegistrationAccessToken, openTenantClient, sealClientSecret, sealRegistrationAccessToken } from './client-secrets.js';
import type { BrokerDeps } from './deps.js';
import { readTenant } from './tenant-read.js';

/**
 * A client secret that expired, or that the provider refuses, is never replaced by registering a
 * new client: the tenant's refresh tokens belong to the client they were granted to, so a new
 * client would strand every linked account. Instead:
 *
 * 1. where the provider offers RFC 7592, the client's configuration is read: a secret the provider
 *    rotated (and a rotated registration access token) is stored, and the refresh goes on;
 * 2. otherwise the tenant is marked as needing the operator (`needsOperator`), once: a
 *    `TenantNeedsOperator` event, an error log line and an audit record say what to do. Its
 *    accounts stay `linked`, their refreshes answer `invalid_client` with that step without asking
 *    the provider, and are tried again hourly until the operator has sent the secret.
 */
type NeedsOperatorReason = NonNullable<TenantRecord['needsOperator']>['reason'];

/** A marked tenant's provider is asked again after this long (the operator may have fixed it at the provider's side). */
export const OPERATOR_RECHECK_MS = 3_600_000;

/** RFC 7591 §3.2.1 `client_secret_expires_at` (epoch s, 0 = never) has passed for a client that has a secret. */
const secretExpired = (t: Pick<TenantRecord, 'clientSecretExpiresAt' | 'sealedClient'>, now: number): boolean =>
  Boolean(t.sealedClient && t.clientSecretExpiresAt && t.clientSecretExpiresAt * 1000 <= now);

/**
 * Before the broker talks to the provider for `tenant`: a tenant whose client secret has expired
 * gets the secret the provider rotated (RFC 7592 read, once per process at a time), or is marked
 * as needing the operator and refused with `invalid_client`. Any other tenant is answered as it is.
 */
export async function ensureClientSecretCurrent(deps: BrokerDeps, tenant: TenantRecord): Promise<TenantRecord> {
  if (!secretExpired(tenant, deps.clock())) return tenant;
  refuseWhileOperatorNeeded(deps, tenant);
  return deps.singleFlight.run(`client-secret:${tenant.tenant}`, () => renewFromProvider(deps, tenant, 'client_secret_expired'));
}

/** The provider refused the tenant's client (`invalid_client`): a rotated secret read through RFC 7592, or the operator's turn. */
export function recoverRefusedClient(deps: BrokerDeps, tenant: TenantRecord): Promise<TenantRecord> {
  return deps.singleFlight.run(`client-secret:${tenant.tenant}`, () => renewFromProvider(deps, tenant, 'invalid_client'));
}

/** A tenant marked within the last hour is refused at once: no provider call that is known to fail. */
export function refuseWhileOperatorNeeded(deps: Pick<BrokerDeps, 'clock'>, tenant: TenantRecord): void {
  const mark = tenant.needsOperator;
  if (mark && deps.clock() - mark.since < OPERATOR_RECHECK_MS) throw operatorError(tenant, mark.reason);
}

/** A grant went through for a marked tenant (the operator fixed it at the provider): the mark goes. */
export async function noteClientAccepted(deps: BrokerDeps, tenant: TenantRecord): Promise<void> {
  if (!tenant.needsOperator) return;
  await clearNeedsOperator(deps.db, tenant.tenant, tenant.needsOperator.since);
  deps.log.info('tenant.client_accepted_again', { tenant: tenant.tenant, clientId: tenant.clientId });
}

/** What the operator must do about a client the provider refuses: the step, in the event, the log and the error. */
export function operatorStep(tenant: Pick<TenantRecord, 'tenant' | 'clientId' | 'tokenEndpointAuthMethod' | 'imported'>): string {
  const put = `PUT /v1/tenants/${tenant.tenant}`;
  if (tenant.tokenEndpointAuthMethod === 'none') {
    return `LongPort no longer accepts client ${tenant.clientId}: check it at LongPort; if it was deleted, delete the tenant (DELETE /v1/tenants/${tenant.tenant}) and register it again, after which its accounts must link again`;
  }
  if (tenant.imported) return `rotate the client secret: send ${put} with "client_id": "${tenant.clientId}" and its current "client_secret"`;
  return `get the current secret of client ${tenant.clientId} from LongPort (it could not be read through RFC 7592) and send ${put} with "client_id": "${tenant.clientId}" and that "client_secret"`;
}

const REASON_TEXT: Record<NeedsOperatorReason, string> = {
  invalid_client: 'the provider refuses its OAuth client (invalid_client)',
  client_secret_expired: 'the secret of its OAuth client has expired',
};

/** `invalid_client` (502) that names the operator's next step, for the event and the log as well. */
export class OperatorMustAct extends BrokerError {
  constructor(
    tenant: TenantRecord,
    reason: NeedsOperatorReason,
    readonly action = operatorStep(tenant),
  ) {
    super('invalid_client', 502, `tenant ${tenant.tenant}: ${REASON_TEXT[reason]}; the operator must act: ${action}`);
  }
}

const operatorError = (tenant: TenantRecord, reason: NeedsOperatorReason) => new OperatorMustAct(tenant, reason);

async function renewFromProvider(deps: BrokerDeps, tenant: TenantRecord, reason: NeedsOperatorReason): Promise<TenantRecord> {
  const read = await readRotatedCredentials(deps, tenant);
  if (read) {
    const current = (await openTenantClient(deps, tenant)).client_secret;
    const expiresAt = read.client_secret_expires_at ?? 0;
    const usable = read.client_secret !== undefined && read.client_secret !== current && (expiresAt === 0 || expiresAt * 1000 > deps.clock());
    const rotatedRegistration = read.registration_access_token;
    if (usable || rotatedRegistration) {
      const stored = await storeClientCredentials(
        deps.db,
        tenant,
        {
          ...(usable ? { secret: { sealedClient: await sealClientSecret(deps, tenant.tenant, read.client_secret), clientSecretExpiresAt: expiresAt } } : {}),
          ...(rotatedRegistration ? { sealedRegistration: await sealRegistrationAccessToken(deps, tenant.tenant, rotatedRegistration) } : {}),
        },
        deps.clock(),
      );
      // another instance stored a newer read first: theirs is as good
      const latest = stored ?? (await readTenant(deps, tenant.tenant));
      if (usable) {
        await audit(deps, tenant, 'tenant.update', { caller: 'broker', outcome: 'client_secret_renewed' });
        deps.log.info('tenant.client_secret_renewed', { tenant: tenant.tenant, clientId: tenant.clientId, reason, expiresAt });
        return latest;
      }
      tenant = latest;
    }
  }
  return markForOperator(deps, tenant, reason);
}

/** RFC 7592 read of a confidential client, where the provider gave the means; undefined when it cannot be read (a passing failure is thrown). */
async function readRotatedCredentials(deps: BrokerDeps, tenant: TenantRecord): Promise<ClientCredentialsRead | undefined> {
  if (tenant.tokenEndpointAuthMethod === 'none' || !tenant.registrationClientUri || !tenant.sealedRegistration) return undefined;
  const token = await openRegistrationAccessToken(deps, tenant.tenant, tenant.sealedRegistration);
  if (!token) return undefined;
  try {
    return await readRegisteredClient(deps.http, tenant.issuer, tenant.registrationClientUri, token);
  } catch (caught) {
    const err = toBrokerError(caught, 'client read');
    // a passing failure says nothing about the secret: try again later, without marking the tenant
    if (err.status === 503) throw err;
    deps.log.warn('tenant.client_read_failed', { tenant: tenant.tenant, clientId: tenant.clientId, reason: err.code, err });
    return undefined;
  }
}

/** Marks the tenant (event, log and audit the first time) and refuses with the operator's step. */
async function markForOperator(deps: BrokerDeps, tenant: TenantRecord, reason: NeedsOperatorReason): Promise<never> {
  const now = deps.clock();
  if (await markNeedsOperator(deps.db, tenant.tenant, reason, now, now - OPERATOR_RECHECK_MS)) {
    const action = operatorStep(tenant);
    deps.log.error('tenant.needs_operator', { tenant: tenant.tenant, clientId: tenant.clientId, reason, action });
    await audit(deps, tenant, 'tenant.update', { caller: 'broker', outcome: `needs_operator:${reason}` });
    await deps.events.publish('TenantNeedsOperator', { tenant: tenant.tenant, reason, client_id: tenant.clientId, action });
  }
  throw operatorError(tenant, reason);
}
