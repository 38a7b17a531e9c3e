import { BrokerError } from '../errors.js';
import { createTenant, getTenant } from '../store/tenants.js';
import { audit } from './audit-trail.js';
import { requireAccess, type Caller } from './callers.js';
import { discardUnusedClient } from './client-deletion.js';
import type { BrokerDeps } from './deps.js';
import { continueTenantMove, moveTenantRegion } from './region-move.js';
import { checkOrigins } from './return-to.js';
import { DEFAULT_SCOPE, importedClient, registerNewClient, tenantRecordFor, type RegisterTenantInput } from './tenant-record.js';
import { JOB_REQUEST_BUDGET_MS, refuseDuringJob } from './tenant-jobs.js';
import { updateTenantSettings } from './tenant-settings.js';
import { tenantView, type TenantView } from './tenant-view.js';

/**
 * `PUT /v1/tenants/{tenant}`: discovery + dynamic registration (RFC 8414, RFC 7591) the first time,
 * or import of a pre-registered client; on an existing tenant, a settings update, or a region
 * move when `change_region` asks for it (a job: `view.state` is `moving` while it runs).
 * `answerBy`: when the answer is due (a move works until then, and goes on in the background).
 */
export async function registerTenant(
  deps: BrokerDeps,
  caller: Caller,
  tenant: string,
  input: RegisterTenantInput,
  options: { answerBy?: number } = {},
): Promise<{ created: boolean; view: TenantView }> {
  requireAccess(caller, tenant, 'admin');
  if (!deps.config.allowedRegions.includes(input.region)) {
    throw new BrokerError('invalid_request', 400, `region "${input.region}" is not enabled on this broker (enabled: ${deps.config.allowedRegions.join(', ')})`);
  }
  const origins = input.return_to_origins === undefined ? undefined : checkOrigins(input.return_to_origins);
  const existing = await getTenant(deps.db, tenant);
  const answerBy = options.answerBy ?? deps.clock() + JOB_REQUEST_BUDGET_MS;
  if (existing?.job) {
    // the same move asked for again goes on with the one under way; any other change waits for the job
    if (existing.job.kind === 'move' && input.change_region && input.region === existing.region) return { created: false, view: await continueTenantMove(deps, existing, { answerBy }) };
    refuseDuringJob(existing);
  }
  if (existing && input.region !== existing.region) {
    // moving region is never implied: every linked account must link again afterwards
    if (!input.change_region) {
      throw new BrokerError(
        'conflict',
        409,
        `tenant ${existing.tenant} is registered in region "${existing.region}"; send "change_region": true to move it to "${input.region}" (its linked accounts will have to link again)`,
      );
    }
    return { created: false, view: await moveTenantRegion(deps, caller, existing, input, origins, { answerBy }) };
  }
  if (existing) return { created: false, view: await updateTenantSettings(deps, caller, existing, input, origins) };

  const issuer = deps.config.issuers[input.region];
  const scope = input.scope ?? DEFAULT_SCOPE;
  const client = input.client_id ? importedClient(input) : await registerNewClient(deps, issuer, tenant, scope);
  const now = deps.clock();
  const record = await tenantRecordFor(
    deps,
    { tenant, region: input.region, issuer, scope, returnToOrigins: origins ?? [], confirmLinks: input.confirm_links ?? false, imported: Boolean(input.client_id), createdAt: now, updatedAt: now },
    client,
  );
  const outcome = await createTenant(deps.db, record);
  if (!outcome.created) {
    // another request registered this tenant first: keep theirs, drop the client we just made
    await discardUnusedClient(deps, issuer, client);
    return { created: false, view: tenantView(outcome.existing) };
  }
  await audit(deps, tenant, 'tenant.register', { caller: caller.id, outcome: input.client_id ? 'imported' : 'registered' });
  deps.log.info('tenant.registered', { tenant, region: input.region, clientType: client.client_type, imported: Boolean(input.client_id) });
  return { created: true, view: tenantView(record) };
}
