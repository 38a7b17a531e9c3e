import { Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, type IConstruct } from 'constructs';
import { invokePaths, routeKey, ROUTES, type GrantLevel, type HttpFunctionName } from './routes.js';

/**
 * The access log line, one JSON object per request. It records the route key (a template such as
 * `GET /oauth/callback`), never the raw path or the query string: `code`, `state` and `link` travel
 * in query strings, and the documentation does not promise that `$context.path` leaves them out.
 * Error messages are left out for the same reason (a SigV4 mismatch message quotes the canonical
 * request, query included); `$context.error.responseType` is a fixed vocabulary instead.
 */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTimeEpoch',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  errorType: '$context.error.responseType',
  sourceIp: '$context.identity.sourceIp',
  caller: '$context.identity.userArn',
};

/** `status` is always a number, so it is logged unquoted and metric filters can compare it. */
const NUMERIC_FIELDS = new Set(['status']);

export function accessLogFormat(): string {
  const parts = Object.entries(ACCESS_LOG_FIELDS).map(([k, v]) => `"${k}":${NUMERIC_FIELDS.has(k) ? v : `"${v}"`}`);
  return `{${parts.join(',')}}`;
}

export interface ThrottleLimits {
  rateLimit: number;
  burstLimit: number;
}

export interface CustomDomain {
  domainName: string;
  /** An ACM certificate for `domainName` in the stack's region. */
  certificateArn: string;
}

export interface BrokerApiProps {
  /** Limits for every route together (the `$default` stage). */
  throttle: ThrottleLimits;
  /** Tighter limits per public route: anyone on the internet can call those. */
  publicRouteThrottle: ThrottleLimits;
  logRetention: logs.RetentionDays;
  customDomain?: CustomDomain;
}

/**
 * The HTTP API. `/v1/*` routes use IAM authorization (SigV4), so callers hold no shared secret and
 * per-tenant access is an IAM policy on the route's resource path (grantTokenRead, grantAdmin).
 * `/oauth/*`, `/healthz` and `/openapi.json` are public.
 */
export class BrokerApi extends Construct {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly accessLogs: logs.LogGroup;
  readonly domain?: apigwv2.DomainName;
  /** Base URL of the API, without trailing slash: the custom domain when one is configured. */
  readonly url: string;
  private readonly publicRouteThrottle: ThrottleLimits;

  constructor(scope: Construct, id: string, props: BrokerApiProps) {
    super(scope, id);
    this.api = new apigwv2.HttpApi(this, 'Api', {
      apiName: Stack.of(this).stackName,
      description: 'LongPort token broker',
      createDefaultStage: false,
    });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: props.logRetention });

    if (props.customDomain) {
      this.domain = new apigwv2.DomainName(this, 'Domain', {
        domainName: props.customDomain.domainName,
        certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', props.customDomain.certificateArn),
        securityPolicy: apigwv2.SecurityPolicy.TLS_1_2,
      });
    }

    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(accessLogFormat()),
      },
      ...(this.domain ? { domainMapping: { domainName: this.domain } } : {}),
    });

    this.url = props.customDomain ? `https://${props.customDomain.domainName}` : this.api.apiEndpoint;
    this.publicRouteThrottle = props.publicRouteThrottle;
  }

  /** Creates every route of ROUTES, each integrated with its function. */
  addRoutes(functions: Record<HttpFunctionName, lambda.IFunction>): void {
    const iamAuthorizer = new HttpIamAuthorizer();
    const integrations = new Map<HttpFunctionName, HttpLambdaIntegration>();
    const routeSettings: Record<string, unknown> = {};
    const cfnStage = this.stage.node.defaultChild as apigwv2.CfnStage;

    for (const spec of ROUTES) {
      let integration = integrations.get(spec.fn);
      if (!integration) {
        integration = new HttpLambdaIntegration(`${spec.fn}-integration`, functions[spec.fn]);
        integrations.set(spec.fn, integration);
      }
      const [route] = this.api.addRoutes({
        path: spec.path,
        methods: [apigwv2.HttpMethod[spec.method]],
        integration,
        authorizer: spec.access === 'public' ? new apigwv2.HttpNoneAuthorizer() : iamAuthorizer,
      });
      if (spec.access !== 'public') continue;

      routeSettings[routeKey(spec)] = {
        ThrottlingRateLimit: this.publicRouteThrottle.rateLimit,
        ThrottlingBurstLimit: this.publicRouteThrottle.burstLimit,
      };
      // route settings name route keys, which must exist before the stage refers to them
      cfnStage.node.addDependency(route!);
      Validations.of(route!).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason: `${routeKey(spec)} is public by design (CONTRACT.md): ${
          spec.path.startsWith('/oauth/')
            ? "the end user's browser arrives without AWS credentials; the single-use link id or state in the query is the capability"
            : 'a health or API-description probe that returns no tenant data'
        }. Throttled per route.`,
      });
    }
    cfnStage.routeSettings = routeSettings;
  }

  /**
   * Allows `grantee` to read and refresh the tokens of every account of `tenant`:
   * `GET …/tenants/<tenant>/accounts/*\/token` and `POST …/refresh`, nothing else.
   */
  grantTokenRead(grantee: iam.IGrantable, tenant: string): iam.Grant {
    return this.grantInvoke(grantee, 'service', tenant);
  }

  /** Allows every `/v1` route of `tenant`, or of all tenants when `tenant` is omitted. */
  grantAdmin(grantee: iam.IGrantable, tenant?: string): iam.Grant {
    return this.grantInvoke(grantee, 'admin', tenant);
  }

  /** The `execute-api:Invoke` ARNs a grant of `level` on `tenant` covers. */
  invokeArns(level: GrantLevel, tenant?: string): string[] {
    return BrokerApi.invokeArnsFor(this, this.api.apiId, level, tenant);
  }

  /** Same, for an API deployed elsewhere (e.g. granting from another stack of the same account). */
  static invokeArnsFor(scope: Construct, apiId: string, level: GrantLevel, tenant?: string): string[] {
    const stack = Stack.of(scope);
    return invokePaths(level, tenant).map((path) =>
      stack.formatArn({ service: 'execute-api', resource: apiId, resourceName: path }),
    );
  }

  private grantInvoke(grantee: iam.IGrantable, level: GrantLevel, tenant?: string): iam.Grant {
    const arns = this.invokeArns(level, tenant);
    const grant = iam.Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns: arns });
    acknowledgeInvokeWildcards(grantee.grantPrincipal, arns, tenant);
    return grant;
  }
}

/**
 * A grant's `*` is a path segment, never more: `{account}`, and `{tenant}` only for an admin of every
 * tenant. cdk-nag flags every resource with a `*` (AwsSolutions-IAM5); this acknowledges exactly
 * these resources on the grantee, which holds the policy. The finding id renders the ARN the way
 * cdk-nag does (`<LogicalId>`, `<AWS::Region>`), and the security test fails if the two drift.
 */
function acknowledgeInvokeWildcards(principal: iam.IPrincipal, arns: string[], tenant: string | undefined): void {
  if (!Construct.isConstruct(principal)) return; // no policy of ours to acknowledge on
  const stack = Stack.of(principal as IConstruct);
  const reason =
    tenant === undefined
      ? 'execute-api:Invoke on the /v1 routes of every tenant (grantAdmin without a tenant): each * is the {tenant} or {account} path segment.'
      : `execute-api:Invoke on tenant ${tenant}'s routes only: the * is the {account} path segment, any account of that tenant.`;
  for (const arn of arns) {
    Validations.of(principal as IConstruct).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flattenForNag(stack.resolve(arn))}]`, reason });
  }
}

/** A resolved CloudFormation value as cdk-nag prints it in finding ids. */
function flattenForNag(node: unknown): string {
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  const v = node as Record<string, unknown>;
  if (Array.isArray(v['Fn::Join'])) {
    const [separator, items] = v['Fn::Join'] as [string, unknown[]];
    return items.map(flattenForNag).join(separator);
  }
  if (Array.isArray(v['Fn::GetAtt'])) {
    const [resource, attribute] = v['Fn::GetAtt'] as [unknown, unknown];
    return `<${flattenForNag(resource)}.${flattenForNag(attribute)}>`;
  }
  if (v['Fn::Sub'] !== undefined) return flattenForNag(v['Fn::Sub']);
  if (v['Fn::ImportValue'] !== undefined) return flattenForNag(v['Fn::ImportValue']);
  if (v.Ref !== undefined) return `<${flattenForNag(v.Ref)}>`;
  return JSON.stringify(node);
}
