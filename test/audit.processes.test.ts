import { afterEach, describe, expect, it } from 'vitest';
import { keyFingerprint } from '../lib/broker/callers.js';
import { getAccount } from '../lib/store/accounts.js';
import { listAudit, type AuditEvent } from '../lib/store/audit.js';
import { tokenFingerprint } from '../lib/store/exposures.js';
import { dynamoEndpoint } from './support/dynamo.js';
import { linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';
import { tokenCallsFromProcesses } from './support/workers.js';

const SERVICE_KEY = 'service-key-of-acme-0123456789abcdef';
const API_KEYS = JSON.stringify({ [SERVICE_KEY]: { tenants: ['acme'], role: 'service' } });

let h: Harness;
afterEach(async () => h?.close());

/** Every event of the account's trail (pages followed). */
async function eventsOf(account: string): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await listAudit(h.db, 'acme', { limit: 200, account, cursor });
    events.push(...page.events);
    cursor = page.next;
  } while (cursor);
  return events;
}

describe('audit by exposure across processes', () => {
  it('exactly one token.read per caller and token across two broker processes on one DynamoDB, and every other read arrives as a count', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    // the workers run on the real clock: the token is issued now, valid for an hour to them too
    h.clock.set(Date.now());
    await linkAccount(h, 'acme', 'alice');
    const { generation } = (await getAccount(h.db, 'acme', 'alice'))!;
    const options = { processes: 2, callsEach: 60, tenant: 'acme', account: 'alice', apiKeys: API_KEYS };

    const asAdmin = await tokenCallsFromProcesses(h, dynamoEndpoint(), options);
    const asService = await tokenCallsFromProcesses(h, dynamoEndpoint(), { ...options, bearer: SERVICE_KEY });

    const summaries = [...asAdmin, ...asService];
    expect(summaries.map((s) => s.statuses)).toEqual(Array.from({ length: 4 }, () => ({ 200: 60 })));
    const tokens = new Set(summaries.flatMap((s) => s.tokens));
    expect(tokens.size).toBe(1);
    expect(h.sim.stats.refreshGrants).toBe(0);
    const fingerprint = tokenFingerprint([...tokens][0]!);
    const events = await eventsOf('alice');
    const service = `key:${keyFingerprint(SERVICE_KEY)}`;
    const reads = events.filter((e) => e.action === 'token.read');
    expect(reads.map((e) => [e.caller, e.generation, e.token_fingerprint]).sort()).toEqual(
      [
        ['admin', generation, fingerprint],
        [service, generation, fingerprint],
      ].sort(),
    );
    // the counts of both processes arrive: the reads of each caller = its token.read + its counts
    const counted = (caller: string) => events.filter((e) => e.action === 'token.reads' && e.caller === caller).reduce((n, e) => n + e.count!, 0);
    expect([counted('admin'), counted(service)]).toEqual([119, 119]);
    expect(events.filter((e) => e.action === 'token.reads').every((e) => e.generation === generation && e.outcome === 'ok')).toBe(true);
  }, 90_000);
});
