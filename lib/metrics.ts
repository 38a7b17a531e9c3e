/**
 * Every metric the broker emits or the stack derives, in one catalogue: the handlers import the
 * names from here, and the alarms and the dashboard (infra/) read the same constants, so a renamed
 * metric cannot leave an alarm watching nothing.
 *
 * Two sources:
 * - `emf`: written by the code as CloudWatch embedded metric format (EMF) lines, readable as they
 *   are in the local log ({@link metricLines});
 * - `access-log`: counted by a CloudWatch Logs metric filter from the `http.access` line every
 *   `/v1` request writes to its function's log group (infra/broker-metrics.ts).
 *
 * EMF limits (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
 * at most 100 values per metric in one line, 100 metrics per line, 30 dimensions per dimension set.
 */
export type Unit = 'Count' | 'Seconds' | 'Milliseconds';

export const METRICS_NAMESPACE = 'LongPortTokenBroker';

export interface MetricSpec {
  unit: Unit;
  source: 'emf' | 'access-log';
  /** The dimension the metric is also emitted with, if any (each value is a separate metric). */
  dimension?: string;
  /** `gauge`: a level sampled at each emission (read Maximum); `count`: events (read Sum). */
  kind: 'count' | 'gauge' | 'timing';
  /** What one data point means, for the dashboard and docs/deploy.md. */
  description: string;
}

export const METRICS = {
  // refresher (lib/broker/refresher.ts): one data point per run
  AccountsDue: { unit: 'Count', source: 'emf', kind: 'gauge', description: 'accounts whose refresh was due at the start of a refresher run' },
  RefreshSucceeded: { unit: 'Count', source: 'emf', kind: 'count', description: 'accounts the refresher renewed' },
  RefreshFailed: { unit: 'Count', source: 'emf', kind: 'count', description: 'accounts the refresher could not renew (all reasons)' },
  RefreshFailedByReason: { unit: 'Count', source: 'emf', kind: 'count', dimension: 'reason', description: 'refresher failures by error code' },
  RefreshLag: { unit: 'Seconds', source: 'emf', kind: 'timing', description: 'seconds of validity an access token still had when the refresher renewed it (low means renewed late)' },
  AccountsNeedReauth: { unit: 'Count', source: 'emf', kind: 'gauge', description: 'accounts in status needs_reauth (the end user must link again)' },
  RevocationsPending: { unit: 'Count', source: 'emf', kind: 'gauge', description: 'upstream revocations waiting for a retry' },
  // faults (any function)
  EventsPublishFailed: { unit: 'Count', source: 'emf', kind: 'count', description: 'events EventBridge refused or that could not be sent (event.publish_failed)' },
  EventsDropped: { unit: 'Count', source: 'emf', kind: 'count', description: 'events dropped because the outgoing queue was full' },
  CallbackFailed: { unit: 'Count', source: 'emf', kind: 'count', description: 'OAuth callbacks that ended in an error for a reason the end user cannot fix (linking is broken); the reason goes in the log line' },
  StoreUnavailable: { unit: 'Count', source: 'emf', kind: 'count', description: 'requests answered 503 because DynamoDB was unreachable, slow or throttled' },
  KmsThrottled: { unit: 'Count', source: 'emf', kind: 'count', description: 'KMS calls refused with ThrottlingException' },
  // access log (metric filters on each function's http.access lines)
  Requests: { unit: 'Count', source: 'access-log', kind: 'count', dimension: 'route', description: 'requests per route key (API access log, also those API Gateway answers itself)' },
  ServerErrors: { unit: 'Count', source: 'access-log', kind: 'count', dimension: 'route', description: 'responses with status 500-599 per route key' },
  Latency: { unit: 'Milliseconds', source: 'access-log', kind: 'timing', dimension: 'route', description: 'time API Gateway took to answer, per route key' },
  TokenReads: { unit: 'Count', source: 'access-log', kind: 'count', dimension: 'cache', description: 'token reads by cache outcome: hit, miss, refreshed, stale' },
} as const satisfies Record<string, MetricSpec>;

export type MetricName = keyof typeof METRICS;

/** EMF: a metric carries at most this many values in one line. */
export const EMF_MAX_VALUES = 100;
/** EMF: at most this many metrics in one line. */
export const EMF_MAX_METRICS = 100;
/** EMF: at most this many dimensions in a dimension set. */
export const EMF_MAX_DIMENSIONS = 30;

type Values = Partial<Record<MetricName, number | number[]>>;

/**
 * The EMF fields for `values`, as log lines: one line normally, more when a metric has more than
 * {@link EMF_MAX_VALUES} values (the values are split across lines, none is lost or summarised).
 * Each returned object is spread into one JSON log line.
 */
export function metricLines(values: Values, dimensions: Record<string, string> = {}, now = Date.now()): Record<string, unknown>[] {
  const names = (Object.keys(values) as MetricName[]).filter((n) => !isEmpty(values[n]));
  /* Precondition: a dimension set holds at most 30 dimensions (EMF). */
  if (Object.keys(dimensions).length > EMF_MAX_DIMENSIONS) {
    throw new Error(`EMF allows at most ${EMF_MAX_DIMENSIONS} dimensions, got ${Object.keys(dimensions).length}`);
  }
  /* Precondition: one line holds at most 100 metrics (EMF). */
  if (names.length > EMF_MAX_METRICS) throw new Error(`EMF allows at most ${EMF_MAX_METRICS} metrics per line, got ${names.length}`);
  if (names.length === 0) return [];

  const chunks = new Map<MetricName, number[][]>();
  let lines = 1;
  for (const name of names) {
    const all = toArray(values[name]!);
    const parts: number[][] = [];
    // a metric carries at most 100 values in one line: the rest go to further lines
    for (let i = 0; i < all.length; i += EMF_MAX_VALUES) parts.push(all.slice(i, i + EMF_MAX_VALUES));
    chunks.set(name, parts);
    lines = Math.max(lines, parts.length);
  }

  const out: Record<string, unknown>[] = [];
  for (let line = 0; line < lines; line += 1) {
    const present = names.filter((n) => chunks.get(n)!.length > line);
    const fields: Record<string, unknown> = {
      _aws: {
        Timestamp: now,
        CloudWatchMetrics: [
          { Namespace: METRICS_NAMESPACE, Dimensions: [Object.keys(dimensions)], Metrics: present.map((Name) => ({ Name, Unit: METRICS[Name].unit })) },
        ],
      },
      ...dimensions,
    };
    for (const name of present) {
      const part = chunks.get(name)![line]!;
      fields[name] = Array.isArray(values[name]) ? part : part[0];
    }
    out.push(fields);
  }
  return out;
}

/**
 * The EMF fields for one log line. A metric with more than {@link EMF_MAX_VALUES} values is
 * summarised into 100 evenly spaced order statistics of its values (minimum and maximum kept), so
 * percentiles and extremes stay right while the line stays valid; use {@link metricLines} to keep
 * every value. The unit is always the catalogue's ({@link METRICS}); `unit` is accepted for callers
 * written before the catalogue.
 */
export function metricFields(
  metrics: Partial<Record<MetricName, { value: number | number[]; unit?: Unit }>>,
  dimensions: Record<string, string> = {},
  now = Date.now(),
): Record<string, unknown> {
  const values: Values = {};
  for (const [name, m] of Object.entries(metrics) as [MetricName, { value: number | number[] }][]) {
    values[name] = Array.isArray(m.value) && m.value.length > EMF_MAX_VALUES ? summarise(m.value) : m.value;
  }
  return metricLines(values, dimensions, now)[0] ?? {};
}

/** 100 order statistics of `values`, from the minimum to the maximum. */
export function summarise(values: readonly number[]): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length <= EMF_MAX_VALUES) return sorted;
  const step = (sorted.length - 1) / (EMF_MAX_VALUES - 1);
  return Array.from({ length: EMF_MAX_VALUES }, (_, i) => sorted[Math.round(i * step)]!);
}

const toArray = (v: number | number[]): number[] => (Array.isArray(v) ? v : [v]);
const isEmpty = (v: number | number[] | undefined): boolean => v === undefined || (Array.isArray(v) && v.length === 0);
