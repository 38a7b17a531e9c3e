/**
 * CloudWatch embedded metric format (EMF): fields for one JSON log line that CloudWatch turns into
 * metrics, readable as it is in the local log. Units follow CloudWatch's names.
 */
export type Unit = 'Count' | 'Seconds' | 'Milliseconds';

export const METRICS_NAMESPACE = 'LongPortTokenBroker';

export function metricFields(
  metrics: Record<string, { value: number | number[]; unit: Unit }>,
  dimensions: Record<string, string> = {},
  now = Date.now(),
): Record<string, unknown> {
  const names = Object.keys(metrics);
  const fields: Record<string, unknown> = {
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [Object.keys(dimensions)], Metrics: names.map((Name) => ({ Name, Unit: metrics[Name]!.unit })) }],
    },
    ...dimensions,
  };
  for (const name of names) fields[name] = metrics[name]!.value;
  return fields;
}
