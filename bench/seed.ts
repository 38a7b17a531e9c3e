import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import type { BrokerDeps } from '../lib/broker/deps.js';
import type { AccountRecord } from '../lib/store/records.js';
import { dueShardOf, keys } from '../lib/store/schema.js';
import { addToCounts } from '../lib/store/tenant-directory.js';
import type { LongPortSimulator } from '../simulator/longport-simulator.js';

/**
 * Seeds `total` linked accounts of one tenant straight into the table: `due` of them with real
 * grants at the simulator and a refresh due now, the rest due later (their tokens are never opened,
 * so they share one sealed placeholder). Writes 25 items per request, `parallel` requests at once.
 */
export async function seedAccounts(
  deps: BrokerDeps,
  sim: LongPortSimulator,
  options: { tenant: string; clientId: string; total: number; due: number; parallel?: number; progress?: (done: number) => void },
): Promise<void> {
  const now = deps.clock();
  const nowS = Math.floor(now / 1000);
  const placeholder = await deps.cipher.seal({ access_token: 'placeholder', refresh_token: 'placeholder' }, accountTokensContext(options.tenant, 'placeholder'));
  const dueEvery = Math.max(1, Math.floor(options.total / Math.max(1, options.due)));
  const items: Record<string, unknown>[] = [];
  let dueMade = 0;
  for (let i = 0; i < options.total; i++) {
    const account = `acct-${String(i).padStart(6, '0')}`;
    const isDue = dueMade < options.due && i % dueEvery === 0;
    let sealedTokens = placeholder;
    if (isDue) {
      const grant = sim.seedGrant(options.clientId);
      sealedTokens = await deps.cipher.seal({ access_token: grant.access_token, refresh_token: grant.refresh_token }, accountTokensContext(options.tenant, account));
      dueMade += 1;
    }
    const record: AccountRecord = {
      tenant: options.tenant,
      account,
      status: 'linked',
      scope: '3',
      issuer: sim.issuer,
      generation: 1,
      sealedTokens,
      expiresAt: isDue ? now + 600_000 : now + 3_000_000,
      refreshedAt: now,
      linkedAt: now,
      dueAt: isDue ? nowS - 1 : nowS + 1800 + (i % 1000),
    };
    items.push({ ...keys.account(options.tenant, account), ...record, dueShard: dueShardOf(options.tenant, account) });
  }
  let next = 0;
  let written = 0;
  const writer = async () => {
    for (;;) {
      const start = next;
      next += 25;
      if (start >= items.length) return;
      let batch = items.slice(start, start + 25).map((Item) => ({ PutRequest: { Item } }));
      while (batch.length) {
        const out = await deps.db.doc.send(new BatchWriteCommand({ RequestItems: { [deps.db.table]: batch } }));
        batch = (out.UnprocessedItems?.[deps.db.table] ?? []) as typeof batch;
      }
      written += 25;
      if (written % 10_000 === 0) options.progress?.(written);
    }
  };
  await Promise.all(Array.from({ length: options.parallel ?? 8 }, writer));
  // the accounts were written straight into the table: their tenant's counts must say so too
  await addToCounts(deps.db, options.tenant, { linked: options.total });
}
