import { Duration } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { REGIONS, type Region } from '../lib/config.js';
import { BrokerAlarms } from './broker-alarms.js';
import { BrokerApi, type CustomDomain, type RouteThrottles } from './broker-api.js';
import { BrokerDashboard } from './broker-dashboard.js';
import { BrokerEvents } from './broker-events.js';
import { BrokerMetrics } from './broker-metrics.js';
import { awsSdkLayer } from './aws-sdk-layer.js';
import { BrokerFunction, type CodeOverride } from './broker-function.js';
import { DeadLetterQueue } from './dead-letter-queue.js';
import { RefreshSchedule } from './refresh-schedule.js';
import type { FunctionName, HttpFunctionName, TenantSelector } from './routes.js';

export { tenantGroup } from './routes.js';
import { TokenKey, type KeyAction } from './token-key.js';
import { operationOf, TokenTable, type TableAction } from './token-table.js';

/**
 * What each function may do, and nothing more: the one place a function's table, key and bus
 * permissions are written. TokenBroker binds each entry (BrokerFunction.bindTable, bindKey,
 * bindEvents), which grants the actions and sets the variable the code reads in one call; a
 * function without `table` (or `key`, `events`) gets neither the permission nor the name.
 * `dueIndexQuery` is `Query` on the index `by-refresh-due` only, `auditIndexQuery` on the index
 * `by-audit-filter` only; `events` is PutEvents on the
 * broker's bus with the broker's source.
 */
export interface FunctionSpec {
  description: string;
  timeout: Duration;
  memorySize: number;
  table?: readonly TableAction[];
  dueIndexQuery?: boolean;
  auditIndexQuery?: boolean;
  key?: readonly KeyAction[];
  events?: boolean;
}

export const FUNCTIONS: Readonly<Record<FunctionName, FunctionSpec>> = {
  register: {
    description: 'PUT|GET|DELETE /v1/tenants/{tenant}: OAuth client registration (discovery, RFC 7591/7592); GET /v1/tenants; GET /v1/refresher',
    // DELETE and a region move answer within about 8 s (202 when unfinished) and go on after the answer
    // until the invocation's timeout (lib/runtime/after-response.ts); the refresher resumes what is left
    timeout: Duration.seconds(28),
    memorySize: 256,
    // BatchGetItem: GET /v1/tenants reads a page's tenant records (and a restricted caller's counts) at once
    table: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'BatchGetItem'],
    key: ['GenerateDataKey', 'Decrypt'],
    events: true,
  },
  authorize: {
    description: 'POST …/link, GET /oauth/authorize, POST …/link/confirm: links, redirect to LongPort with PKCE, confirmed links',
    timeout: Duration.seconds(10),
    memorySize: 256,
    // links are never deleted (a flow started counts on the link: UpdateItem); a confirmation is one
    // TransactWriteItems (Update of the link session + Put of the account)
    table: ['GetItem', 'PutItem', 'UpdateItem'],
    // GenerateDataKey and Decrypt: an expired client secret is renewed on the way (RFC 7592 read: open
    // the registration token, seal the new secret); Decrypt: a confirmed re-link revokes the replaced refresh token
    key: ['GenerateDataKey', 'Decrypt'],
    // AccountLinked, once a linking is confirmed; TenantNeedsOperator when an expired secret cannot be renewed
    events: true,
  },
  callback: {
    description: 'GET /oauth/callback: checks state, exchanges the code, stores the tokens sealed',
    timeout: Duration.seconds(15),
    memorySize: 256,
    // the state is consumed by a DeleteItem; the link's completion and the tokens are one TransactWriteItems (Update + Put)
    table: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'],
    key: ['GenerateDataKey', 'Decrypt'],
    events: true,
  },
  token: {
    description: 'GET …/token: a valid access token, refreshed first when needed',
    // the answer goes out within seconds; a rotated pair whose commit keeps failing (the store
    // unreachable) is retried after it, within its 60 s lease (lib/broker/refresh-commit.ts), and the
    // invocation stays open for that (lib/runtime/after-response.ts): 45 s covers a 30 s outage
    timeout: Duration.seconds(45),
    memorySize: 512,
    // ConditionCheckItem: a token.read is written in one transaction with its exposure marker
    table: ['GetItem', 'PutItem', 'UpdateItem', 'ConditionCheckItem'],
    key: ['GenerateDataKey', 'Decrypt'],
    events: true,
  },
  refresh: {
    description: 'POST …/refresh: forces a refresh now',
    // as `token`: room for a pending commit after the answer
    timeout: Duration.seconds(45),
    memorySize: 256,
    table: ['GetItem', 'PutItem', 'UpdateItem', 'ConditionCheckItem'],
    key: ['GenerateDataKey', 'Decrypt'],
    events: true,
  },
  accounts: {
    description: 'GET …/accounts[/{account}], DELETE …/accounts/{account} (revokes upstream), GET …/audit',
    timeout: Duration.seconds(15),
    memorySize: 256,
    // UpdateItem: an unlink is one TransactWriteItems, the account's Delete and its tenant's counts' Update
    table: ['GetItem', 'Query', 'DeleteItem', 'PutItem', 'UpdateItem'],
    auditIndexQuery: true,
    key: ['Decrypt'],
    events: true,
  },
  meta: {
    description: 'GET /healthz and GET /openapi.json',
    timeout: Duration.seconds(5),
    memorySize: 256,
  },
  refresher: {
    description: 'Scheduled: refreshes every token that expires within the horizon, resumes tenant jobs, retries pending revocations',
    timeout: Duration.minutes(5),
    memorySize: 512,
    // Query and DeleteItem on the table: a resumed tenant job pages through a tenant's accounts and
    // deletes them; pending revocations are one partition, read each run and deleted when done
    table: ['GetItem', 'UpdateItem', 'PutItem', 'DeleteItem', 'Query'],
    dueIndexQuery: true,
    key: ['GenerateDataKey', 'Decrypt'],
    events: true,
  },
};

/** The limits API Gateway applies to each route (see RouteThrottles). */
export const DEFAULT_THROTTLES: RouteThrottles = {
  token: { rateLimit: 500, burstLimit: 1000 },
  v1: { rateLimit: 20, burstLimit: 40 },
  public: { rateLimit: 10, burstLimit: 20 },
};

export interface TokenBrokerProps {
  /** LongPort regions tenants may register in. @default ['global', 'cn'] */
  regions?: Region[];
  /** Issuer of region `global`. @default 'https://openapi.longportapp.com' */
  issuer?: string;
  /** Issuer of region `cn`. @default 'https://openapi.longportapp.cn' */
  issuerCn?: string;
  /** Minutes between refresher runs. @default 5 */
  refreshIntervalMinutes?: number;
  /** The refresher renews tokens that expire within this many seconds. @default 900 */
  refreshHorizonSeconds?: number;
  /** Days an audit event is kept. @default 90 */
  auditDays?: number;
  /** Serve the API (and the OAuth redirect URI) under this domain. @default the execute-api URL */
  customDomain?: CustomDomain;
  /** Alarms notify this topic when they fire and clear. @default a topic the stack creates */
  alarmTopic?: sns.ITopic;
  /** With no `alarmTopic`: subscribe this address to the topic the stack creates. */
  alarmEmail?: string;
  /** @default the stack name */
  eventBusName?: string;
  /** Per-route request limits. @default DEFAULT_THROTTLES */
  throttles?: Partial<RouteThrottles>;
  /** Retention of function logs and API access logs. @default one month */
  logRetention?: logs.RetentionDays;
  /** Reserved concurrency of the refresher. @default none (a new account's quota of 10 leaves no room) */
  refresherConcurrency?: number;
  /** X-Ray active tracing on every function. @default false */
  tracing?: boolean;
  /** Use this existing table (a point-in-time restore, or an earlier stack's) instead of creating one. */
  existingTableName?: string;
  /** Use this existing KMS key instead of creating one. */
  existingKeyArn?: string;
  /** More administrators of the stack's key (ARNs). */
  keyAdminArns?: string[];
  /** The key's break-glass administrator (ARN). @default a role the stack creates (MFA required) */
  breakGlassRoleArn?: string;
  /** Replace the esbuild bundles (tests). */
  code?: CodeOverride;
  /** Replace the AWS SDK layer's esbuild build (tests). */
  awsSdkLayerCode?: lambda.Code;
}

const HTTPS_URL = /^https:\/\/[^/?#\s]+(\/[^?#\s]*)?$/;

/**
 * The whole broker: table, key, functions, HTTP API, refresh schedule, events, alarms and the
 * dashboard. Per-tenant access for callers is granted with {@link grantTokenRead} and
 * {@link grantAdmin}.
 */
export class TokenBroker extends Construct {
  readonly table: TokenTable;
  readonly key: TokenKey;
  readonly events: BrokerEvents;
  readonly deadLetterQueue: DeadLetterQueue;
  readonly api: BrokerApi;
  readonly functions: Readonly<Record<FunctionName, BrokerFunction>>;
  readonly awsSdkLayer: lambda.LayerVersion;
  readonly schedule: RefreshSchedule;
  readonly metrics: BrokerMetrics;
  readonly alarms: BrokerAlarms;
  readonly dashboard: BrokerDashboard;

  constructor(scope: Construct, id: string, props: TokenBrokerProps = {}) {
    super(scope, id);
    const regions = props.regions ?? [...REGIONS];
    const issuer = props.issuer ?? 'https://openapi.longportapp.com';
    const issuerCn = props.issuerCn ?? 'https://openapi.longportapp.cn';
    const horizon = props.refreshHorizonSeconds ?? 900;
    const auditDays = props.auditDays ?? 90;
    const intervalMinutes = props.refreshIntervalMinutes ?? 5;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    validate({ regions, issuer, issuerCn, horizon, auditDays });

    this.table = new TokenTable(this, 'Table', props.existingTableName ? { existingTableName: props.existingTableName } : {});
    this.key = new TokenKey(this, 'Key', {
      ...(props.existingKeyArn ? { existingKeyArn: props.existingKeyArn } : {}),
      ...(props.keyAdminArns ? { adminArns: props.keyAdminArns } : {}),
      ...(props.breakGlassRoleArn ? { breakGlassRoleArn: props.breakGlassRoleArn } : {}),
    });
    this.deadLetterQueue = new DeadLetterQueue(this, 'DeadLetters');
    this.events = new BrokerEvents(this, 'Events', {
      ...(props.eventBusName ? { eventBusName: props.eventBusName } : {}),
      deadLetterQueue: this.deadLetterQueue.queue,
    });
    this.api = new BrokerApi(this, 'Http', {
      throttles: { ...DEFAULT_THROTTLES, ...props.throttles },
      logRetention,
      ...(props.customDomain ? { customDomain: props.customDomain } : {}),
    });

    // settings, not permissions: what the table, key and bus are called comes with bind…()
    const settings: Record<string, string> = {
      BROKER_MODE: 'aws',
      BROKER_PUBLIC_URL: this.api.url,
      LONGPORT_ISSUER: issuer,
      LONGPORT_ISSUER_CN: issuerCn,
      BROKER_REGIONS: regions.join(','),
      BROKER_AUDIT_DAYS: String(auditDays),
      BROKER_REFRESH_HORIZON_S: String(horizon),
      // the schedule's rate, as the refresher-health route reports it
      BROKER_REFRESH_INTERVAL_S: String(intervalMinutes * 60),
    };

    // one layer for every function that talks to AWS (a table, the key or the bus): the SDK classes
    // the broker uses, at the versions the tests ran (infra/aws-sdk-layer.ts)
    this.awsSdkLayer = awsSdkLayer(this, 'AwsSdk', props.awsSdkLayerCode);
    const functions = {} as Record<FunctionName, BrokerFunction>;
    for (const [name, spec] of Object.entries(FUNCTIONS) as [FunctionName, FunctionSpec][]) {
      const fn = new BrokerFunction(this, fnId(name), {
        name,
        description: spec.description,
        timeout: spec.timeout,
        memorySize: spec.memorySize,
        environment: settings,
        logRetention,
        tracing: props.tracing ?? false,
        ...(name === 'refresher' && props.refresherConcurrency !== undefined ? { reservedConcurrentExecutions: props.refresherConcurrency } : {}),
        ...(spec.table || spec.key || spec.events ? { awsSdk: this.awsSdkLayer } : {}),
        ...(props.code ? { code: props.code } : {}),
      });
      if (spec.table) fn.bindTable(this.table, spec.table, { dueIndexQuery: spec.dueIndexQuery ?? false, auditIndexQuery: spec.auditIndexQuery ?? false });
      if (spec.key) fn.bindKey(this.key, spec.key);
      if (spec.events) fn.bindEvents(this.events);
      functions[name] = fn;
    }
    this.functions = functions;

    const { refresher, ...http } = functions;
    const handlers = {} as Record<HttpFunctionName, lambda.IFunction>;
    for (const [name, f] of Object.entries(http) as [HttpFunctionName, BrokerFunction][]) handlers[name] = f.fn;
    this.api.addRoutes(handlers);

    this.schedule = new RefreshSchedule(this, 'RefreshSchedule', {
      refresher: refresher.fn,
      intervalMinutes,
      deadLetterQueue: this.deadLetterQueue.queue,
    });

    this.metrics = new BrokerMetrics(this, 'Metrics', { functions, accessLogs: this.api.accessLogs });
    this.alarms = new BrokerAlarms(this, 'Alarms', {
      functions,
      api: this.api,
      table: this.table,
      tableOperations: [...new Set(Object.values(FUNCTIONS).flatMap((f) => [...(f.table ?? []), ...(f.dueIndexQuery || f.auditIndexQuery ? (['Query'] as const) : [])].map(operationOf)))],
      key: this.key,
      metrics: this.metrics,
      refreshIntervalMinutes: intervalMinutes,
      deadLetterQueue: this.deadLetterQueue.queue,
      reauthMailbox: this.events.reauthMailbox,
      ...(props.alarmTopic ? { topic: props.alarmTopic } : {}),
      ...(props.alarmEmail ? { email: props.alarmEmail } : {}),
    });
    this.dashboard = new BrokerDashboard(this, 'Dashboard', {
      functions,
      api: this.api,
      table: this.table,
      metrics: this.metrics,
      reauthMailbox: this.events.reauthMailbox,
      deadLetterQueue: this.deadLetterQueue.queue,
      alarms: this.alarms,
    });
  }

  /** The redirect URI registered with LongPort for every tenant. */
  get callbackUrl(): string {
    return `${this.api.url}/oauth/callback`;
  }

  /** Allows `grantee` to read and refresh tokens of `tenant`'s accounts, or of a tenant group's (SigV4 on the token routes). */
  grantTokenRead(grantee: iam.IGrantable, tenant: TenantSelector): iam.Grant {
    return this.api.grantTokenRead(grantee, tenant);
  }

  /** Allows `grantee` every `/v1` route of `tenant` (or of a tenant group), or of every tenant when omitted. */
  grantAdmin(grantee: iam.IGrantable, tenant?: TenantSelector): iam.Grant {
    return this.api.grantAdmin(grantee, tenant);
  }
}

const fnId = (name: string): string => `${name[0]!.toUpperCase()}${name.slice(1)}Function`;

function validate(p: { regions: string[]; issuer: string; issuerCn: string; horizon: number; auditDays: number }): void {
  if (p.regions.length === 0) throw new Error('regions: at least one LongPort region must be allowed');
  for (const r of p.regions) {
    if (!(REGIONS as readonly string[]).includes(r)) throw new Error(`regions: unknown region "${r}" (allowed: ${REGIONS.join(', ')})`);
  }
  for (const [name, url] of [['issuer', p.issuer], ['issuerCn', p.issuerCn]] as const) {
    if (!HTTPS_URL.test(url)) throw new Error(`${name} must be an https URL without query or fragment, got "${url}"`);
  }
  if (!Number.isInteger(p.horizon) || p.horizon < 60 || p.horizon > 86_400) {
    throw new Error(`refreshHorizonSeconds must be a whole number from 60 to 86400, got ${p.horizon}`);
  }
  if (!Number.isInteger(p.auditDays) || p.auditDays < 1 || p.auditDays > 3650) {
    throw new Error(`auditDays must be a whole number from 1 to 3650, got ${p.auditDays}`);
  }
}
