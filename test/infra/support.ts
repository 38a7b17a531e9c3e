import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { vi } from 'vitest';
import { BrokerStack, type BrokerStackProps } from '../../infra/broker-stack.js';
import { PROJECT_ROOT } from '../../infra/bundling.js';
import type { FunctionName } from '../../infra/routes.js';
import { FUNCTIONS } from '../../infra/token-broker.js';

/**
 * Synthesizes the broker stack the way `npm run synth` does (cdk.json context, feature flags),
 * except that every function's code is an inline stub and the AWS SDK layer a stand-in: bundling is
 * the bundling test's job, once per entry, and keeps these synths under a few seconds.
 */
// A synth takes 1-3 s on an idle 2-core machine; tests that synthesize a variant of the stack get
// room for a busy one.
vi.setConfig({ testTimeout: 120_000 });

export const STUB_CODE = (): lambda.Code => lambda.Code.fromInline('export const handler = async () => ({});');
/** The AWS SDK layer's stand-in: a layer's code is an asset (a layer takes no inline code). */
export const STUB_LAYER_CODE = (): lambda.Code => lambda.Code.fromAsset(join(PROJECT_ROOT, 'test', 'fixtures', 'aws-sdk-layer-stub'));

export function cdkJsonContext(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')).context;
}

export function synthBroker(
  props: BrokerStackProps = {},
  options: { context?: Record<string, unknown>; extend?: (stack: BrokerStack) => void } = {},
): { stack: BrokerStack; template: Template } {
  const app = new App({ context: { ...cdkJsonContext(), ...options.context } });
  const stack = new BrokerStack(app, 'Broker', { code: STUB_CODE, awsSdkLayerCode: STUB_LAYER_CODE(), ...props });
  options.extend?.(stack);
  return { stack, template: Template.fromStack(stack) };
}

let cached: { stack: BrokerStack; template: Template } | undefined;
/** The default stack, synthesized once per test file. */
export function defaultBroker(): { stack: BrokerStack; template: Template } {
  cached ??= synthBroker();
  return cached;
}

export type Resources = Record<string, { Type: string; Properties?: Record<string, any>; DependsOn?: string[]; Metadata?: Record<string, any> }>;

export function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
  Principal?: unknown;
  Sid?: string;
}

export const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
export const resourcesOfStatement = (s: Statement): unknown[] => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);

/** Every identity-policy statement attached to the role whose logical id starts with `rolePrefix`. */
export function roleStatements(template: Template, rolePrefix: string): Statement[] {
  const policies = resourcesOf(template, 'AWS::IAM::Policy');
  const out: Statement[] = [];
  for (const policy of Object.values(policies)) {
    const roles = (policy.Properties!.Roles as { Ref: string }[]).map((r) => r.Ref);
    if (roles.some((r) => r.startsWith(rolePrefix))) out.push(...(policy.Properties!.PolicyDocument.Statement as Statement[]));
  }
  return out;
}

/** Logical id of the single resource of `type` whose id starts with `prefix`. */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(resourcesOf(template, type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
}

/**
 * Renders an ARN built from intrinsics into a plain string, with pseudo parameters and `Ref`s
 * replaced by fixed values, so IAM wildcard matching can be evaluated in a test.
 */
export function renderArn(value: unknown, refs: Record<string, string>): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, any>;
  if (v.Ref) {
    const pseudo: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': 'eu-west-1', 'AWS::AccountId': '111122223333' };
    const r = pseudo[v.Ref] ?? refs[v.Ref];
    if (r === undefined) throw new Error(`no value for Ref ${v.Ref}`);
    return r;
  }
  if (v['Fn::Join']) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => renderArn(p, refs)).join(sep);
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

/** IAM resource matching: `*` any run of characters (slashes included), `?` one character. */
export function iamMatches(pattern: string, arn: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(arn);
}

/** The logical-id prefix of a function's role, e.g. `BrokerTokenFunctionRole`. */
export const roleIdOf = (name: FunctionName): string => `Broker${name[0]!.toUpperCase()}${name.slice(1)}FunctionRole`;

/** Every statement of the key policies in the template that names the role whose id starts with `rolePrefix`. */
export function keyPolicyStatementsFor(template: Template, rolePrefix: string): Statement[] {
  const out: Statement[] = [];
  for (const key of Object.values(resourcesOf(template, 'AWS::KMS::Key'))) {
    for (const s of key.Properties!.KeyPolicy.Statement as Statement[]) {
      const aws = (s.Principal as { AWS?: unknown } | undefined)?.AWS;
      const principals = Array.isArray(aws) ? aws : aws === undefined ? [] : [aws];
      if (principals.some((p) => (p as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt']?.[0].startsWith(rolePrefix))) out.push(s);
    }
  }
  return out;
}

/**
 * What Lambda itself does with a function's role, not the function's code: write its logs, send
 * traces (with tracing on), and put a failed asynchronous run on the dead-letter queue (the
 * refresher's on-failure destination).
 */
export const PLATFORM_ACTIONS: ReadonlySet<string> = new Set([
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  'sqs:SendMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
]);

/**
 * Per function, every IAM action its role is granted in `template` (identity policies and the key
 * policy statements that name the role), sorted. With `{ code: true }`, without PLATFORM_ACTIONS:
 * what the function's own code may send, to compare with the AWS commands it does send.
 */
export function grantedActions(template: Template = defaultBroker().template, options: { code?: boolean } = {}): Record<FunctionName, string[]> {
  const out = {} as Record<FunctionName, string[]>;
  for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
    const prefix = roleIdOf(name);
    const actions = new Set([...roleStatements(template, prefix), ...keyPolicyStatementsFor(template, prefix)].flatMap(actionsOf));
    out[name] = [...actions].filter((a) => !(options.code && PLATFORM_ACTIONS.has(a))).sort();
  }
  return out;
}

/** An IAM policy document's size as IAM counts it: its JSON without whitespace. */
export const policySize = (document: unknown): number => JSON.stringify(document).length;
