import * as logs from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import type { Region } from '../lib/config.js';
import type { BrokerStackProps } from './broker-stack.js';

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
  eventBusName: 'broker:eventBusName',
  throttleRate: 'broker:throttleRate',
  throttleBurst: 'broker:throttleBurst',
  publicThrottleRate: 'broker:publicThrottleRate',
  publicThrottleBurst: 'broker:publicThrottleBurst',
  refresherConcurrency: 'broker:refresherConcurrency',
  logRetentionDays: 'broker:logRetentionDays',
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
  set('eventBusName', str(CONTEXT_KEYS.eventBusName));

  const domainName = str(CONTEXT_KEYS.domainName);
  const certificateArn = str(CONTEXT_KEYS.certificateArn);
  if (Boolean(domainName) !== Boolean(certificateArn)) {
    throw new Error(`context ${CONTEXT_KEYS.domainName} and ${CONTEXT_KEYS.certificateArn} go together`);
  }
  if (domainName && certificateArn) set('customDomain', { domainName, certificateArn });

  const rate = int(CONTEXT_KEYS.throttleRate);
  const burst = int(CONTEXT_KEYS.throttleBurst);
  if (rate !== undefined || burst !== undefined) set('throttle', { rateLimit: rate ?? 50, burstLimit: burst ?? 100 });
  const publicRate = int(CONTEXT_KEYS.publicThrottleRate);
  const publicBurst = int(CONTEXT_KEYS.publicThrottleBurst);
  if (publicRate !== undefined || publicBurst !== undefined) {
    set('publicRouteThrottle', { rateLimit: publicRate ?? 10, burstLimit: publicBurst ?? 20 });
  }

  if (str(CONTEXT_KEYS.refresherConcurrency) === 'none') props.refresherConcurrency = undefined;
  else set('refresherConcurrency', int(CONTEXT_KEYS.refresherConcurrency));

  const days = int(CONTEXT_KEYS.logRetentionDays);
  if (days !== undefined) {
    if (!(Object.values(logs.RetentionDays) as number[]).includes(days)) {
      throw new Error(`context ${CONTEXT_KEYS.logRetentionDays}: ${days} is not a CloudWatch Logs retention (e.g. 30, 90, 365)`);
    }
    set('logRetention', days as logs.RetentionDays);
  }

  return { stackName: str(CONTEXT_KEYS.stackName) ?? DEFAULT_STACK_NAME, props };
}
