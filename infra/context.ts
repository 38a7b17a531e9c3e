import * as logs from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import type { Region } from '../lib/config.js';
import type { RouteThrottles } from './broker-api.js';
import type { BrokerStackProps } from './broker-stack.js';
import { DEFAULT_THROTTLES } from './token-broker.js';

const ARN = /^arn:aws[a-z-]*:[a-z0-9-]+:/;

/**
 * The operator's parameters, read from CDK context: `cdk.json` holds the defaults, and
 * `npx cdk deploy -c broker:regions=global` overrides one. docs/deploy.md lists them.
 */
export const CONTEXT_KEYS = {
  stackName: 'broker:stackName',
  regions: 'broker:regions',
  issuer: 'broker:issuer',
  issuerCn: 'broker:issuerCn',
  refreshIntervalMinutes: 'broker:refreshIntervalMinutes',
  refreshHorizonSeconds: 'broker:refreshHorizonSeconds',
  auditDays: 'broker:auditDays',
  domainName: 'broker:domainName',
  certificateArn: 'broker:certificateArn',
  alarmTopicArn: 'broker:alarmTopicArn',
  alarmEmail: 'broker:alarmEmail',
  eventBusName: 'broker:eventBusName',
  tokenThrottleRate: 'broker:tokenThrottleRate',
  tokenThrottleBurst: 'broker:tokenThrottleBurst',
  throttleRate: 'broker:throttleRate',
  throttleBurst: 'broker:throttleBurst',
  publicThrottleRate: 'broker:publicThrottleRate',
  publicThrottleBurst: 'broker:publicThrottleBurst',
  refresherConcurrency: 'broker:refresherConcurrency',
  logRetentionDays: 'broker:logRetentionDays',
  tracing: 'broker:tracing',
  permissionsBoundaryArn: 'broker:permissionsBoundaryArn',
  existingTableName: 'broker:existingTableName',
  existingKeyArn: 'broker:existingKeyArn',
  keyAdminArns: 'broker:keyAdminArns',
  breakGlassRoleArn: 'broker:breakGlassRoleArn',
  tags: 'broker:tags',
} as const;

export const DEFAULT_STACK_NAME = 'LongPortTokenBroker';

export interface BrokerContext {
  stackName: string;
  props: BrokerStackProps;
}

/** Reads and checks every `broker:*` context value; an invalid one fails naming its key. */
export function brokerContext(node: Node): BrokerContext {
  const str = (key: string): string | undefined => {
    const v: unknown = node.tryGetContext(key);
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`context ${key} must be a string or number`);
    return String(v).trim();
  };
  const int = (key: string): number | undefined => {
    const v = str(key);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new Error(`context ${key} must be a whole number, got "${v}"`);
    return Number(v);
  };
  const arn = (key: string, service: string): string | undefined => {
    const v = str(key);
    if (v !== undefined && !new RegExp(`^arn:aws[a-z-]*:${service}:`).test(v)) throw new Error(`context ${key} must be an ${service} ARN, got "${v}"`);
    return v;
  };
  const list = (key: string): string[] | undefined => {
    const v: unknown = node.tryGetContext(key);
    if (Array.isArray(v)) return v.map(String);
    return str(key)?.split(',').map((s) => s.trim()).filter(Boolean);
  };

  const props: BrokerStackProps = {};
  const set = <K extends keyof BrokerStackProps>(k: K, v: BrokerStackProps[K] | undefined): void => {
    if (v !== undefined) (props as Record<string, unknown>)[k] = v;
  };

  set('regions', list(CONTEXT_KEYS.regions) as Region[] | undefined);
  set('issuer', str(CONTEXT_KEYS.issuer));
  set('issuerCn', str(CONTEXT_KEYS.issuerCn));
  set('refreshIntervalMinutes', int(CONTEXT_KEYS.refreshIntervalMinutes));
  set('refreshHorizonSeconds', int(CONTEXT_KEYS.refreshHorizonSeconds));
  set('auditDays', int(CONTEXT_KEYS.auditDays));
  set('alarmTopicArn', str(CONTEXT_KEYS.alarmTopicArn));
  set('alarmEmail', str(CONTEXT_KEYS.alarmEmail));
  set('eventBusName', str(CONTEXT_KEYS.eventBusName));
  set('permissionsBoundaryArn', arn(CONTEXT_KEYS.permissionsBoundaryArn, 'iam'));
  set('existingTableName', str(CONTEXT_KEYS.existingTableName));
  set('existingKeyArn', arn(CONTEXT_KEYS.existingKeyArn, 'kms'));
  set('breakGlassRoleArn', arn(CONTEXT_KEYS.breakGlassRoleArn, 'iam'));
  const admins = list(CONTEXT_KEYS.keyAdminArns);
  if (admins) {
    for (const a of admins) if (!ARN.test(a)) throw new Error(`context ${CONTEXT_KEYS.keyAdminArns}: "${a}" is not an ARN`);
    set('keyAdminArns', admins);
  }
  const tracing = str(CONTEXT_KEYS.tracing);
  if (tracing !== undefined) {
    if (tracing !== 'active' && tracing !== 'off') throw new Error(`context ${CONTEXT_KEYS.tracing} must be "active" or "off", got "${tracing}"`);
    set('tracing', tracing === 'active');
  }
  const tags = list(CONTEXT_KEYS.tags);
  if (tags) {
    const pairs = tags.map((t) => {
      const m = /^([^=]+)=(.*)$/.exec(t);
      if (!m) throw new Error(`context ${CONTEXT_KEYS.tags}: "${t}" is not key=value`);
      return [m[1]!.trim(), m[2]!.trim()] as const;
    });
    set('tags', Object.fromEntries(pairs));
  }

  const domainName = str(CONTEXT_KEYS.domainName);
  const certificateArn = str(CONTEXT_KEYS.certificateArn);
  if (Boolean(domainName) !== Boolean(certificateArn)) {
    throw new Error(`context ${CONTEXT_KEYS.domainName} and ${CONTEXT_KEYS.certificateArn} go together`);
  }
  if (domainName && certificateArn) set('customDomain', { domainName, certificateArn });

  const throttles: Partial<RouteThrottles> = {};
  for (const [cls, rateKey, burstKey] of [
    ['token', CONTEXT_KEYS.tokenThrottleRate, CONTEXT_KEYS.tokenThrottleBurst],
    ['v1', CONTEXT_KEYS.throttleRate, CONTEXT_KEYS.throttleBurst],
    ['public', CONTEXT_KEYS.publicThrottleRate, CONTEXT_KEYS.publicThrottleBurst],
  ] as const) {
    const rate = int(rateKey);
    const burst = int(burstKey);
    if (rate !== undefined || burst !== undefined) {
      throttles[cls] = { rateLimit: rate ?? DEFAULT_THROTTLES[cls].rateLimit, burstLimit: burst ?? DEFAULT_THROTTLES[cls].burstLimit };
    }
  }
  if (Object.keys(throttles).length > 0) set('throttles', throttles);

  const concurrency = str(CONTEXT_KEYS.refresherConcurrency);
  if (concurrency !== 'none') set('refresherConcurrency', int(CONTEXT_KEYS.refresherConcurrency));

  const days = int(CONTEXT_KEYS.logRetentionDays);
  if (days !== undefined) {
    if (!(Object.values(logs.RetentionDays) as number[]).includes(days)) {
      throw new Error(`context ${CONTEXT_KEYS.logRetentionDays}: ${days} is not a CloudWatch Logs retention (e.g. 30, 90, 365)`);
    }
    set('logRetention', days as logs.RetentionDays);
  }

  return { stackName: str(CONTEXT_KEYS.stackName) ?? DEFAULT_STACK_NAME, props };
}
