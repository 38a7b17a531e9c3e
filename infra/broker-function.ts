import { join } from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { EVENTS_ENV, type BrokerEvents } from './broker-events.js';
import { assertLocalEsbuild, BUNDLING, LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, PROJECT_ROOT } from './bundling.js';
import type { FunctionName } from './routes.js';
import { KEY_ENV, type KeyAction, type TokenKey } from './token-key.js';
import { TABLE_ENV, type TableAction, type TokenTable } from './token-table.js';
import { AUDIT_INDEX, DUE_INDEX } from '../lib/store/schema.js';

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
  /** Settings that are not permissions (issuers, regions, URLs); resource names come with bind…(). */
  environment: Record<string, string>;
  logRetention: logs.RetentionDays;
  /** X-Ray active tracing. @default false (docs/deploy.md, "Tracing") */
  tracing?: boolean;
  reservedConcurrentExecutions?: number;
  /** The broker's AWS SDK layer (infra/aws-sdk-layer.ts), for a function that talks to AWS. */
  awsSdk?: lambda.ILayerVersion;
  code?: CodeOverride;
}

/**
 * One broker Lambda with the settings every function shares: Node.js on arm64, bundled by the
 * local esbuild, JSON logs in its own log group with a retention.
 *
 * It gets its own role whose only built-in permission is writing to that log group (instead of the
 * managed AWSLambdaBasicExecutionRole, which allows writing to any log group). Everything else comes
 * from the bind…() methods, each of which grants the actions and sets the variable the code reads
 * in one call, so a function never holds a name without the permission or the reverse.
 */
export class BrokerFunction extends Construct implements iam.IGrantable {
  readonly name: FunctionName;
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly grantPrincipal: iam.IPrincipal;

  constructor(scope: Construct, id: string, props: BrokerFunctionProps) {
    super(scope, id);
    this.name = props.name;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      // kept when the stack goes (the logs are evidence); removed when the first deploy fails
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
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
      ...(props.tracing ? { tracing: lambda.Tracing.ACTIVE } : {}),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: { ...props.environment },
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      ...(props.awsSdk ? { layers: [props.awsSdk] } : {}),
    });

    if (props.tracing) {
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions, so their statement (added by the Lambda construct) must name "*". Every other statement names an ARN.',
      });
    }
  }

  get functionName(): string {
    return this.fn.functionName;
  }

  /**
   * Grants `actions` on the table (and `Query` on the refresher's index with `dueIndexQuery`, on the
   * audit trail's filter index with `auditIndexQuery`) and sets its name.
   */
  bindTable(table: TokenTable, actions: readonly TableAction[], options: { dueIndexQuery?: boolean; auditIndexQuery?: boolean } = {}): this {
    if (actions.length > 0) table.grantItems(this, actions);
    if (options.dueIndexQuery) table.grantIndexQuery(this, DUE_INDEX);
    if (options.auditIndexQuery) table.grantIndexQuery(this, AUDIT_INDEX);
    this.fn.addEnvironment(TABLE_ENV, table.tableName);
    return this;
  }

  /** Grants `actions` on the key, under the encryption-context conditions, and sets its ARN. */
  bindKey(key: TokenKey, actions: readonly KeyAction[]): this {
    if (actions.length > 0) key.grantEnvelope(this, actions);
    this.fn.addEnvironment(KEY_ENV, key.keyArn);
    return this;
  }

  /** Grants `events:PutEvents` on the bus with the broker's source, and sets the bus name. */
  bindEvents(events: BrokerEvents): this {
    events.grantPublish(this);
    this.fn.addEnvironment(EVENTS_ENV, events.eventBusName);
    return this;
  }
}
