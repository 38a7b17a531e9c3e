/** The expiry timeline's data, computed from the account list alone (pure logic, no browser). */
import { describe, expect, it } from 'vitest';
import { renewsAround, type Account } from '../client/admin-api.js';
import { timelineData, timelineSummary } from '../console/app/timeline.js';

const at = (ms: number) => new Date(ms).toISOString();
const T0 = Date.UTC(2026, 0, 2, 12, 0, 0);
const account = (name: string, o: { expiresInS: number; lifetimeS?: number; status?: Account['status'] }): Account => ({
  account: name,
  status: o.status ?? 'linked',
  scope: '3',
  expires_at: at(T0 + o.expiresInS * 1000),
  refreshed_at: at(T0 + (o.expiresInS - (o.lifetimeS ?? 3600)) * 1000),
  linked_at: at(T0 - 86_400_000),
});

describe('the expiry timeline', () => {
  it('a token is renewed about min(horizon, half its lifetime) before it expires; a needs_reauth account is not renewed', () => {
    const hourLong = account('a', { expiresInS: 3600, lifetimeS: 3600 });
    const tenMinutes = account('b', { expiresInS: 600, lifetimeS: 600 });
    const stranded = account('c', { expiresInS: 600, status: 'needs_reauth' });

    expect(renewsAround(hourLong)).toBe(Date.parse(hourLong.expires_at) - 900_000);
    expect(renewsAround(tenMinutes)).toBe(Date.parse(tenMinutes.expires_at) - 300_000);
    expect(renewsAround(hourLong, 300)).toBe(Date.parse(hourLong.expires_at) - 300_000);
    expect(renewsAround(stranded)).toBeUndefined();
  });

  it('rows are ordered by expiry, x ascends, and each point names its row', () => {
    const data = timelineData([account('late', { expiresInS: 3000 }), account('soon', { expiresInS: 100, lifetimeS: 1000 }), account('dead', { expiresInS: -50, status: 'needs_reauth' })]);

    expect(data.rows.map((r) => r.account)).toEqual(['dead', 'soon', 'late']);
    expect([...data.x].sort((a, b) => a - b)).toEqual(data.x);
    // three expiries and two renewals (the needs_reauth account has none)
    expect(data.x).toHaveLength(5);
    expect(data.stranded.filter((v) => v !== null)).toEqual([0]);
    expect(data.renews.filter((v) => v !== null).sort()).toEqual([1, 2]);
    data.x.forEach((_, i) => {
      const row = [data.expires[i], data.renews[i], data.stranded[i]].find((v) => v !== null);
      expect(row).toBe(data.rowAt[i]);
    });
  });

  it('the summary says what the chart shows, in words', () => {
    const data = timelineData([account('a', { expiresInS: 1200 }), account('b', { expiresInS: 7200 }), account('c', { expiresInS: 60, status: 'needs_reauth' })]);

    const summary = timelineSummary(data.rows, T0);

    expect(summary).toContain('2 linked tokens');
    expect(summary).toContain('1 expire within the hour');
    expect(summary).toContain('next renewal around');
    expect(summary).toContain('1 need a new link');
  });
});
