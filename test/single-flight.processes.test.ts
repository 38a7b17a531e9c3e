import { describe, expect, it } from 'vitest';
import { getAccount } from '../lib/store/accounts.js';
import { dynamoEndpoint } from './support/dynamo.js';
import { linkAccount } from './support/flow.js';
import { startHarness } from './support/harness.js';
import { tokenCallsFromProcesses } from './support/workers.js';

describe('single-flight across processes', () => {
  it('200 concurrent token calls from 4 processes at the moment of expiry: exactly 1 refresh grant, 0 reused refresh tokens, every caller gets the same valid token', async () => {
    const h = await startHarness();
    try {
      await linkAccount(h, 'acme', 'alice');
      // the harness clock stands hours behind the workers' real clocks: to them the token has just expired
      expect((await getAccount(h.db, 'acme', 'alice'))!.expiresAt).toBeLessThan(Date.now());

      const summaries = await tokenCallsFromProcesses(h, dynamoEndpoint(), { processes: 4, callsEach: 50, tenant: 'acme', account: 'alice' });

      const statuses = summaries.map((s) => s.statuses);
      expect(statuses).toEqual([{ 200: 50 }, { 200: 50 }, { 200: 50 }, { 200: 50 }]);
      const tokens = new Set(summaries.flatMap((s) => s.tokens));
      expect(tokens.size).toBe(1);
      expect(h.sim.stats.refreshGrants).toBe(1);
      expect(h.sim.stats.reuseDetected).toBe(0);
      const api = await fetch(`${h.sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${[...tokens][0]}` } });
      expect(api.status).toBe(200);
    } finally {
      await h.close();
    }
  }, 60_000);
});
