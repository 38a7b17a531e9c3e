/** What the console's audit trail card shows of the pages a broker answered (pure logic, no browser). */
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../client/admin-api.js';
import { auditView } from '../console/app/audit-view.js';

const T0 = Date.UTC(2026, 0, 2, 12, 0, 0);
const event = (id: string, atS: number, more: Partial<AuditEvent> = {}): AuditEvent => ({
  at: new Date(T0 + atS * 1000).toISOString(),
  action: 'token.read',
  caller: `svc-${id}`,
  outcome: 'ok',
  account: 'alice',
  ...more,
});
const callers = (events: AuditEvent[]) => events.map((e) => e.caller);

describe("the console's audit trail view", () => {
  it("a broker that ignores the fingerprint filter: the other tokens' events are hidden, and the view says the filter was ignored", () => {
    const answered = [event('a', 3, { token_fingerprint: '1111111111111111' }), event('b', 2, { token_fingerprint: '2222222222222222' }), event('c', 1)];

    const view = auditView(answered, { fingerprint: '1111111111111111' });

    expect(callers(view.events)).toEqual(['svc-a']);
    expect(view.ignoredFingerprint).toBe(true);
  });

  it('a broker that filters by fingerprint: nothing is hidden and nothing is said', () => {
    const answered = [event('a', 3, { token_fingerprint: '1111111111111111' }), event('b', 2, { token_fingerprint: '1111111111111111' })];

    const view = auditView(answered, { fingerprint: '1111111111111111' });

    expect(callers(view.events)).toEqual(['svc-a', 'svc-b']);
    expect(view.ignoredFingerprint).toBe(false);
  });

  it('without a fingerprint filter, events without a fingerprint are no sign of an ignored filter', () => {
    const view = auditView([event('a', 2, { token_fingerprint: '1111111111111111' }), event('b', 1)], {});

    expect(callers(view.events)).toEqual(['svc-a', 'svc-b']);
    expect(view.ignoredFingerprint).toBe(false);
  });

  it("the account filter holds whatever the broker answered: other accounts' events are not shown", () => {
    const view = auditView([event('a', 2, { account: 'alice' }), event('b', 1, { account: 'bob' })], { account: 'bob' });

    expect(callers(view.events)).toEqual(['svc-b']);
  });

  it('a trail answered oldest first is shown newest first, and the view says the broker answered oldest first', () => {
    const view = auditView([event('a', 1), event('b', 2), event('c', 3)], {});

    expect(callers(view.events)).toEqual(['svc-c', 'svc-b', 'svc-a']);
    expect(view.oldestFirst).toBe(true);
  });

  it('a trail answered newest first keeps its order, and nothing is said', () => {
    const view = auditView([event('c', 3), event('b', 2), event('a', 1)], {});

    expect(callers(view.events)).toEqual(['svc-c', 'svc-b', 'svc-a']);
    expect(view.oldestFirst).toBe(false);
  });

  it("events of the same instant keep the broker's order newest first, reversed when it answered oldest first", () => {
    const newest = auditView([event('late', 2), event('x', 1), event('y', 1), event('early', 0)], {});
    const oldest = auditView([event('early', 0), event('y', 1), event('x', 1), event('late', 2)], {});

    expect(callers(newest.events)).toEqual(['svc-late', 'svc-x', 'svc-y', 'svc-early']);
    expect(callers(oldest.events)).toEqual(['svc-late', 'svc-x', 'svc-y', 'svc-early']);
  });

  it('one event, or events all of one instant, say nothing of the order', () => {
    expect(auditView([event('a', 1)], {}).oldestFirst).toBe(false);
    expect(auditView([event('a', 1), event('b', 1)], {}).oldestFirst).toBe(false);
    expect(auditView([], { fingerprint: '1111111111111111' })).toEqual({ events: [], ignoredFingerprint: false, oldestFirst: false });
  });
});
