/**
 * What the audit trail card shows of the pages a broker answered: the events that match the filter,
 * newest first, and whether to say that the broker did not do what the contract asks of it (an
 * older broker may ignore `token_fingerprint`, or answer its trail oldest first). Pure functions,
 * so they are tested in Node.
 */
import type { AuditEvent } from '../../client/admin-api.js';

export interface AuditFilter {
  account?: string;
  fingerprint?: string;
}

export interface AuditView {
  /** The events that match the filter, newest first. */
  events: AuditEvent[];
  /** The broker answered events of other tokens: it ignored the fingerprint filter (they are hidden). */
  ignoredFingerprint: boolean;
  /** The broker answered its trail oldest first (the contract's order is newest first). */
  oldestFirst: boolean;
}

/** `raw`: the events of every page loaded so far, in the order the broker answered them. */
export function auditView(raw: AuditEvent[], filter: AuditFilter): AuditView {
  // a broker that ignores a filter it does not know answers every event: only matching ones are shown
  const matching = raw.filter((e) => (!filter.fingerprint || e.token_fingerprint === filter.fingerprint) && (!filter.account || e.account === filter.account));
  const oldestFirst = isOldestFirst(raw);
  return {
    events: newestFirst(matching, oldestFirst),
    ignoredFingerprint: Boolean(filter.fingerprint) && matching.length < raw.length,
    oldestFirst,
  };
}

function isOldestFirst(events: AuditEvent[]): boolean {
  return events.length > 1 && Date.parse(events[0]!.at) < Date.parse(events[events.length - 1]!.at);
}

/** Newest first; events of the same instant keep the broker's order, reversed when it answers oldest first. */
function newestFirst(events: AuditEvent[], oldestFirst: boolean): AuditEvent[] {
  return (oldestFirst ? [...events].reverse() : [...events]).sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
}
