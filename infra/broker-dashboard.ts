import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../lib/metrics.js';
import type { BrokerAlarms } from './broker-alarms.js';
import type { BrokerApi } from './broker-api.js';
import type { BrokerFunction } from './broker-function.js';
import type { BrokerMetrics } from './broker-metrics.js';
import { DUE_INDEX } from '../lib/store/schema.js';
import type { FunctionName } from './routes.js';
import type { TokenTable } from './token-table.js';

export interface BrokerDashboardProps {
  functions: Readonly<Record<FunctionName, BrokerFunction>>;
  api: BrokerApi;
  table: TokenTable;
  metrics: BrokerMetrics;
  reauthMailbox: sqs.IQueue;
  deadLetterQueue: sqs.IQueue;
  alarms: BrokerAlarms;
}

/** Widget titles, in order: the dashboard test and docs/deploy.md name the same rows. */
export const DASHBOARD_WIDGETS = [
  'Alarms',
  'Token reads per minute',
  'Token read latency (ms)',
  'Token cache hit ratio (%)',
  'Refreshes',
  'Refresh failures by reason',
  'Refresh lag (s of validity left)',
  'Accounts due and needing a new link',
  'Requests by route',
  '5xx by route',
  'DynamoDB consumed capacity',
  'DynamoDB throttles and errors',
  'Lambda errors',
  'Lambda throttles',
  'Lambda concurrency',
] as const;

/**
 * One CloudWatch dashboard, `<stack name>`: the alarms' states on top, then token reads (rate,
 * latency p50/p99, cache hit ratio), refreshes (succeeded, failed by reason, lag), accounts due and
 * `needs_reauth`, per-route requests and 5xx, DynamoDB capacity and throttles, and per function
 * Lambda errors, throttles and concurrency.
 */
export class BrokerDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: BrokerDashboardProps) {
    super(scope, id);
    const m = props.metrics;
    const minute = Duration.minutes(1);
    const five = Duration.minutes(5);
    const fns = Object.values(props.functions);
    const table = props.table.table;
    const graph = (title: (typeof DASHBOARD_WIDGETS)[number], left: cloudwatch.IMetric[], extra: Partial<cloudwatch.GraphWidgetProps> = {}) =>
      new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, ...extra });
    const search = (expression: string, label: string, period: Duration) =>
      new cloudwatch.MathExpression({ expression, label, period, usingMetrics: {} });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: Stack.of(this).stackName,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: props.alarms.all, width: 24, height: 4 }));
    this.dashboard.addWidgets(
      graph('Token reads per minute', [m.tokenRoute('Requests', { period: minute })]),
      graph('Token read latency (ms)', [
        m.tokenRoute('Latency', { period: minute, statistic: 'p50' }).with({ label: 'p50' }),
        m.tokenRoute('Latency', { period: minute, statistic: 'p99' }).with({ label: 'p99' }),
      ]),
      graph('Token cache hit ratio (%)', [m.tokenCacheHitRatio(five)], { leftYAxis: { min: 0, max: 100 } }),
    );
    this.dashboard.addWidgets(
      graph('Refreshes', [m.metric('RefreshSucceeded', { label: 'succeeded' }), m.metric('RefreshFailed', { label: 'failed' })]),
      graph('Refresh failures by reason', [
        search(`SEARCH('{${METRICS_NAMESPACE},reason} MetricName="RefreshFailedByReason"', 'Sum', 300)`, 'failed', five),
      ]),
      graph('Refresh lag (s of validity left)', [
        m.metric('RefreshLag', { statistic: 'p50', label: 'p50' }),
        m.metric('RefreshLag', { statistic: 'Minimum', label: 'minimum' }),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Accounts due and needing a new link', [
        m.metric('AccountsDue', { label: 'due (refresher run)' }),
        m.metric('AccountsNeedReauth', { label: 'needs_reauth' }),
        props.reauthMailbox.metricApproximateNumberOfMessagesVisible({ period: five, statistic: 'Maximum', label: 'ReauthRequired mailbox' }),
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: five, statistic: 'Maximum', label: 'dead letters' }),
      ]),
      graph('Requests by route', [search(`SEARCH('{${METRICS_NAMESPACE},route} MetricName="Requests"', 'Sum', 300)`, 'requests', five)]),
      graph('5xx by route', [search(`SEARCH('{${METRICS_NAMESPACE},route} MetricName="ServerErrors"', 'Sum', 300)`, '5xx', five)]),
    );
    this.dashboard.addWidgets(
      graph('DynamoDB consumed capacity', [
        table.metricConsumedReadCapacityUnits({ period: five, statistic: 'Sum', label: 'read units' }),
        table.metricConsumedWriteCapacityUnits({ period: five, statistic: 'Sum', label: 'write units' }),
      ]),
      graph('DynamoDB throttles and errors', [
        table.metric('ReadThrottleEvents', { period: five, statistic: 'Sum', label: 'read throttles' }),
        table.metric('WriteThrottleEvents', { period: five, statistic: 'Sum', label: 'write throttles' }),
        table.metric('WriteThrottleEvents', {
          period: five,
          statistic: 'Sum',
          label: `${DUE_INDEX} write throttles`,
          dimensionsMap: { TableName: table.tableName, GlobalSecondaryIndexName: DUE_INDEX },
        }),
        m.metric('StoreUnavailable', { label: 'answered 503 (store unavailable)' }),
      ]),
      graph('Lambda errors', fns.map((f) => f.fn.metricErrors({ period: five, statistic: 'Sum', label: f.name }))),
    );
    this.dashboard.addWidgets(
      graph('Lambda throttles', fns.map((f) => f.fn.metricThrottles({ period: five, statistic: 'Sum', label: f.name }))),
      graph('Lambda concurrency', fns.map((f) => f.fn.metric('ConcurrentExecutions', { period: minute, statistic: 'Maximum', label: f.name }))),
    );
  }
}
