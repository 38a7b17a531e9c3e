import { join } from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { assertLocalEsbuild, BUNDLING, LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, PROJECT_ROOT } from './bundling.js';
import type { FunctionName } from './routes.js';

/** `functions/<name>.ts`, exporting `handler`. */
export const entryOf = (name: FunctionName): string => join(PROJECT_ROOT, 'functions', `${name}.ts`);

/**
 * Replaces the esbuild bundle of each function (tests use it to synthesize without bundling).
 * The code must export `handler` from `index`.
 */
export type CodeOverride = (name: FunctionName) => lambda.Code;

export interface BrokerFunctionProps {
  name: FunctionName;
  description: string;
  timeout: Duration;
  memorySize: number;
  environment: Record<string, string>;
  logRetention: logs.RetentionDays;
  reservedConcurrentExecutions?: number;
  code?: CodeOverride;
}

/**
 * One broker Lambda with the settings every function shares: Node.js on arm64, bundled by the
 * local esbuild, active X-Ray tracing, JSON logs in its own log group with a retention.
 *
 * It gets its own role whose only built-in permission is writing to that log group (instead of the
 * managed AWSLambdaBasicExecutionRole, which allows writing to any log group); everything else is
 * granted explicitly by the resource constructs (TokenTable, TokenKey, BrokerEvents).
 */
export class BrokerFunction extends Construct implements iam.IGrantable {
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly grantPrincipal: iam.IPrincipal;

  constructor(scope: Construct, id: string, props: BrokerFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `LongPort token broker: ${props.name} function`,
    });
    this.grantPrincipal = this.role;
    this.logGroup.grantWrite(this.role);

    const code = props.code?.(props.name);
    if (!code) assertLocalEsbuild();
    this.fn = new NodejsFunction(this, 'Function', {
      description: props.description,
      ...(code ? { code, handler: 'index.handler' } : { entry: entryOf(props.name), handler: 'handler', bundling: BUNDLING }),
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      runtime: LAMBDA_RUNTIME,
      architecture: LAMBDA_ARCHITECTURE,
      timeout: props.timeout,
      memorySize: props.memorySize,
      tracing: lambda.Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
    });

    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions, so their statement (added by the Lambda construct) must name "*". Every other statement names an ARN.',
    });
  }

  get functionName(): string {
    return this.fn.functionName;
  }
}
