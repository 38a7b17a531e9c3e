/**
 * What the expiry timeline shows, computed from the account list alone: when each token expires
 * and about when the scheduled refresher renews it. Pure functions, so they are tested in Node.
 */
import { DEFAULT_REFRESH_HORIZON_S, renewsAround, type Account } from '../../client/admin-api.js';
import { clockTime } from './format.js';

export interface TimelineRow {
  account: string;
  status: Account['status'];
  expires: number;
  renews: number | undefined;
}

/**
 * The chart's data in uPlot's shape: one x (time, seconds) shared by three point series — linked
 * tokens' expiry, their renewal, and expired tokens of accounts that need a new link — each y the
 * account's row (accounts ordered by expiry). `rows[y]` names the account of row y.
 */
export interface TimelineData {
  rows: TimelineRow[];
  x: number[];
  expires: (number | null)[];
  renews: (number | null)[];
  stranded: (number | null)[];
  /** Per x index, the row it belongs to (for the hover read-out). */
  rowAt: number[];
}

export function timelineData(accounts: Account[], horizonS = DEFAULT_REFRESH_HORIZON_S): TimelineData {
  const rows: TimelineRow[] = accounts
    .map((a) => ({ account: a.account, status: a.status, expires: Date.parse(a.expires_at), renews: renewsAround(a, horizonS) }))
    .filter((r) => Number.isFinite(r.expires))
    .sort((a, b) => a.expires - b.expires || a.account.localeCompare(b.account));
  // one point per (row, kind); uPlot wants x ascending, so every point is placed, then sorted
  const points: { x: number; row: number; kind: 'expires' | 'renews' | 'stranded' }[] = [];
  rows.forEach((r, row) => {
    points.push({ x: r.expires / 1000, row, kind: r.status === 'linked' ? 'expires' : 'stranded' });
    if (r.renews !== undefined) points.push({ x: r.renews / 1000, row, kind: 'renews' });
  });
  points.sort((a, b) => a.x - b.x || a.row - b.row);
  const data: TimelineData = { rows, x: [], expires: [], renews: [], stranded: [], rowAt: [] };
  for (const p of points) {
    data.x.push(p.x);
    data.rowAt.push(p.row);
    data.expires.push(p.kind === 'expires' ? p.row : null);
    data.renews.push(p.kind === 'renews' ? p.row : null);
    data.stranded.push(p.kind === 'stranded' ? p.row : null);
  }
  return data;
}

/** A one-sentence summary of the timeline, for people who do not see the chart. */
export function timelineSummary(rows: TimelineRow[], now: number): string {
  const linked = rows.filter((r) => r.status === 'linked');
  const stranded = rows.length - linked.length;
  const hour = linked.filter((r) => r.expires > now && r.expires <= now + 3600_000).length;
  const expired = linked.filter((r) => r.expires <= now).length;
  const next = linked.map((r) => r.renews ?? Infinity).filter((t) => t > now).sort((a, b) => a - b)[0];
  const parts = [`${linked.length.toLocaleString()} linked token${linked.length === 1 ? '' : 's'}`, `${hour.toLocaleString()} expire within the hour`];
  if (expired) parts.push(`${expired} already expired (renewed on the next read or refresher run)`);
  if (next !== undefined) parts.push(`next renewal around ${clockTime(next)}`);
  if (stranded) parts.push(`${stranded.toLocaleString()} need a new link`);
  return parts.join('; ') + '.';
}
