import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRICS, METRICS_NAMESPACE, type MetricName } from '../lib/metrics.js';
import type { BrokerFunction } from './broker-function.js';
import { routeKey, ROUTES, TOKEN_ROUTE, type FunctionName, type HttpFunctionName, type RouteSpec } from './routes.js';

/** The `event` of the access line each `/v1` request writes to its function's log group. */
export const ACCESS_EVENT = 'http.access';

export interface BrokerMetricsProps {
  functions: Readonly<Record<FunctionName, BrokerFunction>>;
  /** The HTTP API's own access log (infra/broker-api.ts, ACCESS_LOG_FIELDS). */
  accessLogs: logs.ILogGroup;
}

const UNITS: Record<string, cloudwatch.Unit> = {
  Count: cloudwatch.Unit.COUNT,
  Seconds: cloudwatch.Unit.SECONDS,
  Milliseconds: cloudwatch.Unit.MILLISECONDS,
};

/**
 * The broker's metrics as CloudWatch objects, for the alarms and the dashboard: the handlers' EMF
 * metrics (lib/metrics.ts), and the metric filters that count the access logs.
 *
 * - From the HTTP API's access log (every request, also those API Gateway answers itself: 403
 *   without a grant, 429 when throttled): `Requests`, `ServerErrors` and `Latency`, each with the
 *   dimension `route` (the route key), so each route has its own metric.
 * - From the token function's `http.access` lines: `TokenReads` with the dimension `cache`
 *   (hit, miss, refreshed, stale), for the cache hit ratio.
 */
export class BrokerMetrics extends Construct {
  constructor(scope: Construct, id: string, props: BrokerMetricsProps) {
    super(scope, id);
    const everyRequest = logs.FilterPattern.exists('$.routeKey');
    // one metric per route: the route key is the dimension
    const perRoute = (name: 'Requests' | 'ServerErrors' | 'Latency', filterPattern: logs.IFilterPattern, metricValue: string) =>
      new logs.MetricFilter(this, `${name}Filter`, { logGroup: props.accessLogs, filterPattern, ...filterMetric(name), metricValue, dimensions: { route: '$.routeKey' } });
    perRoute('Requests', everyRequest, '1');
    perRoute('ServerErrors', logs.FilterPattern.all(everyRequest, logs.FilterPattern.numberValue('$.status', '>=', 500)), '1');
    perRoute('Latency', everyRequest, '$.responseLatency');
    new logs.MetricFilter(this, 'TokenReadsFilter', {
      logGroup: props.functions.token.logGroup,
      filterPattern: logs.FilterPattern.all(logs.FilterPattern.stringValue('$.event', '=', ACCESS_EVENT), logs.FilterPattern.exists('$.cache')),
      ...filterMetric('TokenReads'),
      metricValue: '1',
      dimensions: { cache: '$.cache' },
    });
  }

  /** A catalogued metric; `dimensions` for one with a dimension. Counts read Sum, gauges Maximum, timings p50. */
  metric(name: MetricName, options: { dimensions?: Record<string, string>; period?: Duration; statistic?: string; label?: string } = {}): cloudwatch.Metric {
    const spec = METRICS[name];
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: name,
      ...(options.dimensions ? { dimensionsMap: options.dimensions } : {}),
      period: options.period ?? Duration.minutes(5),
      statistic: options.statistic ?? (spec.kind === 'count' ? 'Sum' : spec.kind === 'gauge' ? 'Maximum' : 'p50'),
      unit: UNITS[spec.unit],
      ...(options.label ? { label: options.label } : {}),
    });
  }

  /** One route's metric from the API access log. */
  routeMetric(name: 'Requests' | 'ServerErrors' | 'Latency', route: RouteSpec, options: { period?: Duration; statistic?: string } = {}): cloudwatch.Metric {
    return this.metric(name, { ...options, dimensions: { route: routeKey(route) }, label: routeKey(route) });
  }

  /** 5xx answered on any route `fn` serves (derived from ROUTES), as one series. */
  serverErrorsOf(fn: HttpFunctionName, period = Duration.minutes(5)): cloudwatch.IMetric {
    const routes = ROUTES.filter((r) => r.fn === fn);
    const usingMetrics = Object.fromEntries(routes.map((r, i) => [`r${i}`, this.routeMetric('ServerErrors', r, { period })]));
    return new cloudwatch.MathExpression({
      expression: routes.map((_, i) => `FILL(r${i}, 0)`).join(' + '),
      usingMetrics,
      label: `${fn}: 5xx`,
      period,
    });
  }

  /** Token reads answered from the instance's cache, in percent of all token reads. */
  tokenCacheHitRatio(period = Duration.minutes(5)): cloudwatch.IMetric {
    const outcomes = ['hit', 'miss', 'refreshed', 'stale'] as const;
    const usingMetrics = Object.fromEntries(outcomes.map((o) => [o, this.metric('TokenReads', { dimensions: { cache: o }, period })]));
    return new cloudwatch.MathExpression({
      expression: `100 * FILL(hit, 0) / (${outcomes.map((o) => `FILL(${o}, 0)`).join(' + ')})`,
      usingMetrics,
      label: 'cache hit ratio (%)',
      period,
    });
  }

  /** The token route's metric. */
  tokenRoute(name: 'Requests' | 'ServerErrors' | 'Latency', options: { period?: Duration; statistic?: string } = {}): cloudwatch.Metric {
    return this.routeMetric(name, TOKEN_ROUTE, options);
  }
}

function filterMetric(name: MetricName): { metricNamespace: string; metricName: string; unit: cloudwatch.Unit } {
  return { metricNamespace: METRICS_NAMESPACE, metricName: name, unit: UNITS[METRICS[name].unit]! };
}
