/**
 * The expiry timeline (uPlot on a canvas): one row per account, ordered by expiry. A row's bar runs
 * from about when the refresher renews the token to when it expires; accounts that need a new link
 * sit at their dead token's expiry, in the warning colour. A dashed line marks now; hovering a point
 * names its account below the chart, and a sentence under it says the same for screen readers.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { Account } from '../../../client/admin-api.js';
import { clockTime, exact, relative } from '../format.js';
import { timelineData, timelineSummary, type TimelineRow } from '../timeline.js';

const COLORS = { expires: '#2f5bd3', renews: '#138a6b', stranded: '#c2410c', bar: 'rgba(47, 91, 211, 0.28)', now: '#6b7280', grid: '#eceef2', axis: '#5b6170' };
const HEIGHT = 300;

export function ExpiryTimeline({ accounts, now }: { accounts: Account[]; now: number }) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot>();
  const nowRef = useRef(now);
  const data = useMemo(() => timelineData(accounts), [accounts]);
  const [hover, setHover] = useState<TimelineRow>();

  useEffect(() => {
    nowRef.current = now;
    chart.current?.redraw(false, false);
  }, [now]);

  useEffect(() => {
    const el = box.current;
    if (!el || data.x.length === 0) return;
    const nowS = () => nowRef.current / 1000;
    const opts: uPlot.Options = {
      width: Math.max(320, el.clientWidth),
      height: HEIGHT,
      legend: { show: false },
      cursor: { y: false, points: { size: 9 }, drag: { x: true, y: false, setScale: true } },
      scales: {
        x: {
          time: true,
          range: (_u, min, max) => {
            const lo = Math.min(min, nowS() - 600);
            const hi = Math.max(max, nowS() + 1800);
            const pad = (hi - lo) * 0.03;
            return [lo - pad, hi + pad];
          },
        },
        y: { range: () => [-0.5, Math.max(0.5, data.rows.length - 0.5)] },
      },
      axes: [
        // 24-hour local times, as everywhere else on the page
        { stroke: COLORS.axis, grid: { stroke: COLORS.grid, width: 1 }, ticks: { stroke: COLORS.grid }, values: (_u, splits) => splits.map((s) => clockTime(s * 1000)) },
        {
          stroke: COLORS.axis,
          grid: { stroke: COLORS.grid, width: 1 },
          ticks: { stroke: COLORS.grid },
          label: 'accounts, soonest expiry lowest',
          labelSize: 18,
          size: 52,
          // row numbers as counts, whole ones only
          values: (_u, splits) => splits.map((s) => (Number.isInteger(s) && s >= 0 ? String(s + 1) : '')),
        },
      ],
      series: [
        {},
        pointSeries('Expires', COLORS.expires),
        pointSeries('Renews around', COLORS.renews),
        pointSeries('Needs a new link', COLORS.stranded),
      ],
      hooks: {
        // the bars under the points: renewal → expiry of each linked account
        drawClear: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            clipToPlot(u);
            ctx.strokeStyle = COLORS.bar;
            ctx.lineWidth = Math.max(1, Math.min(4, (u.bbox.height / Math.max(1, data.rows.length)) * 0.6));
            ctx.beginPath();
            data.rows.forEach((r, row) => {
              if (r.renews === undefined) return;
              const y = u.valToPos(row, 'y', true);
              ctx.moveTo(u.valToPos(r.renews / 1000, 'x', true), y);
              ctx.lineTo(u.valToPos(r.expires / 1000, 'x', true), y);
            });
            ctx.stroke();
            ctx.restore();
          },
        ],
        draw: [
          (u) => {
            const ctx = u.ctx;
            const x = u.valToPos(nowS(), 'x', true);
            ctx.save();
            clipToPlot(u);
            ctx.strokeStyle = COLORS.now;
            ctx.lineWidth = devicePixelRatio;
            ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.setLineDash([]);
            ctx.fillStyle = COLORS.now;
            ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
            ctx.fillText('now', x + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
            ctx.restore();
          },
        ],
        setCursor: [
          (u) => {
            const idx = u.cursor.idx;
            setHover(idx === null || idx === undefined ? undefined : data.rows[data.rowAt[idx]!]);
          },
        ],
      },
    };
    const u = new uPlot(opts, [data.x, data.expires, data.renews, data.stranded] as uPlot.AlignedData, el);
    chart.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(320, el.clientWidth), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      chart.current = undefined;
    };
  }, [data]);

  if (data.x.length === 0) return <p class="empty muted">No account to draw.</p>;
  const summary = timelineSummary(data.rows, now);
  return (
    <figure class="timeline">
      <ul class="legend" aria-hidden="true">
        <li>
          <span class="swatch dot" data-kind="expires" /> token expires
        </li>
        <li>
          <span class="swatch dot" data-kind="renews" /> refresher renews it, around
        </li>
        <li>
          <span class="swatch bar" /> renewal window
        </li>
        <li>
          <span class="swatch dot" data-kind="stranded" /> needs a new link (token dead)
        </li>
        <li class="muted">drag to zoom, double-click to reset</li>
      </ul>
      <div ref={box} class="chart" role="img" aria-label={`Expiry timeline. ${summary}`} data-testid="expiry-chart" />
      <p class="readout" aria-live="off" data-testid="timeline-readout">
        {hover ? (
          <>
            <strong>{hover.account}</strong> · {hover.status === 'linked' ? 'linked' : 'needs a new link'} · expires {relative(hover.expires, now)} ({exact(hover.expires)})
            {hover.renews !== undefined && <> · renews around {hover.renews <= now ? 'now (due)' : `${relative(hover.renews, now)} (${exact(hover.renews)})`}</>}
          </>
        ) : (
          <span class="muted">Point at the chart to see an account.</span>
        )}
      </p>
      <figcaption class="muted" data-testid="timeline-summary">
        {summary} The refresher renews a token about min(15 min, half its lifetime) before it expires.
      </figcaption>
    </figure>
  );
}

function pointSeries(label: string, color: string): uPlot.Series {
  return { label, stroke: color, fill: color, width: 0, paths: () => null, points: { show: true, size: 5, width: 1, stroke: color, fill: color } };
}

function clipToPlot(u: uPlot) {
  u.ctx.beginPath();
  u.ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
  u.ctx.clip();
}
