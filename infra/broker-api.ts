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
import { invokePaths, routeKey, ROUTES, TOKEN_ROUTE, type GrantLevel, type HttpFunctionName, type RouteSpec, type TenantSelector } from './routes.js';

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

/** Always numbers, so they are logged unquoted: metric filters compare `status` and read `responseLatency`. */
const NUMERIC_FIELDS = new Set(['status', 'responseLatency']);

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

/**
 * Request limits, each **per route**: API Gateway keeps one token bucket per route of the stage
 * (`RouteSettings`; `DefaultRouteSettings` is the same per-route limit for a route not listed).
 * An HTTP API has no limit across its routes; the most the API accepts is the sum of its routes'
 * limits ({@link BrokerApi.totalRateLimit}), and every API of the account shares the account's
 * regional limit on top.
 */
export interface RouteThrottles {
  /** `GET …/token`, the hot read path. */
  token: ThrottleLimits;
  /** Each other `/v1` route. */
  v1: ThrottleLimits;
  /** Each public route (`/oauth/*`, `/healthz`, `/openapi.json`): one bucket shared by the whole internet. */
  public: ThrottleLimits;
}

export interface BrokerApiProps {
  throttles: RouteThrottles;
  logRetention: logs.RetentionDays;
  customDomain?: CustomDomain;
}

/** IAM's limit on all inline policies of one role together (characters, whitespace not counted). */
export const IAM_INLINE_POLICY_LIMIT = 10_240;

/**
 * An `execute-api` ARN up to the API id at its longest (partition `aws-us-gov`, the longest region
 * name, 12-digit account, 10-character API id), for estimating a policy's size before deploying.
 */
const LONGEST_ARN_PREFIX = 'arn:aws-us-gov:execute-api:ap-southeast-5:123456789012:a1b2c3d4e5/';
/** Room for the statement around the resources (Effect, Action, Sid), and the other statements. */
const STATEMENT_OVERHEAD = 200;

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
  private readonly throttles: RouteThrottles;
  /** The invoke resources granted to each principal through this API's helpers. */
  private readonly granted = new Map<iam.IPrincipal, Set<string>>();

  constructor(scope: Construct, id: string, props: BrokerApiProps) {
    super(scope, id);
    this.api = new apigwv2.HttpApi(this, 'Api', {
      apiName: Stack.of(this).stackName,
      description: 'LongPort token broker',
      createDefaultStage: false,
      // behind a custom domain, the execute-api URL would be a second way in that skips the domain's TLS policy
      disableExecuteApiEndpoint: Boolean(props.customDomain),
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
      // the per-route limit of any route not listed in RouteSettings (addRoutes lists every route)
      throttle: props.throttles.v1,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(accessLogFormat()),
      },
      ...(this.domain ? { domainMapping: { domainName: this.domain } } : {}),
    });

    this.url = props.customDomain ? `https://${props.customDomain.domainName}` : this.api.apiEndpoint;
    this.throttles = props.throttles;
  }

  /** The limits of `route`. */
  throttleOf(route: RouteSpec): ThrottleLimits {
    if (route === TOKEN_ROUTE) return this.throttles.token;
    return route.access === 'public' ? this.throttles.public : this.throttles.v1;
  }

  /** The most requests per second the API accepts: the sum of its routes' limits. */
  get totalRateLimit(): number {
    return ROUTES.reduce((sum, r) => sum + this.throttleOf(r).rateLimit, 0);
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
      const limits = this.throttleOf(spec);
      routeSettings[routeKey(spec)] = { ThrottlingRateLimit: limits.rateLimit, ThrottlingBurstLimit: limits.burstLimit };
      // route settings name route keys, which must exist before the stage refers to them
      cfnStage.node.addDependency(route!);
      if (spec.access !== 'public') continue;
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
   * Allows `grantee` to read and refresh the tokens of every account of `tenant` (or of every
   * tenant of a {@link TenantGroup}): `GET …/tenants/<tenant>/accounts/*\/token` and
   * `POST …/refresh`, nothing else. About 220 characters of inline policy per tenant; a group
   * costs the same whatever its size.
   */
  grantTokenRead(grantee: iam.IGrantable, tenant: TenantSelector): iam.Grant {
    return this.grantInvoke(grantee, 'service', tenant);
  }

  /**
   * Allows every `/v1` route of `tenant` (or of every tenant of a group), or of all tenants when
   * `tenant` is omitted. About 200 characters of inline policy per tenant or group.
   */
  grantAdmin(grantee: iam.IGrantable, tenant?: TenantSelector): iam.Grant {
    return this.grantInvoke(grantee, 'admin', tenant);
  }

  /** The `execute-api:Invoke` ARNs a grant of `level` on `tenant` covers. */
  invokeArns(level: GrantLevel, tenant?: TenantSelector): string[] {
    return BrokerApi.invokeArnsFor(this, this.api.apiId, level, tenant);
  }

  /** Same, for an API deployed elsewhere (e.g. granting from another stack of the same account). */
  static invokeArnsFor(scope: Construct, apiId: string, level: GrantLevel, tenant?: TenantSelector): string[] {
    const stack = Stack.of(scope);
    return invokePaths(level, tenant).map((path) =>
      stack.formatArn({ service: 'execute-api', resource: apiId, resourceName: path }),
    );
  }

  private grantInvoke(grantee: iam.IGrantable, level: GrantLevel, tenant?: TenantSelector): iam.Grant {
    const paths = invokePaths(level, tenant);
    this.checkPolicySize(grantee.grantPrincipal, paths);
    const arns = this.invokeArns(level, tenant);
    const grant = iam.Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns: arns });
    acknowledgeInvokeWildcards(grantee.grantPrincipal, arns, tenant);
    return grant;
  }

  /**
   * Precondition: the grants made to one principal fit IAM's inline policy limit. Checked at synth
   * time (estimated with the longest ARN prefix), so an oversized grant fails `cdk synth` with a
   * way out instead of failing the deploy. (A role created in the same CDK app could take more:
   * CDK moves statements into overflow managed policies past its own estimate; an imported role,
   * the usual grantee, has one inline policy and nothing else.)
   */
  private checkPolicySize(principal: iam.IPrincipal, paths: string[]): void {
    const resources = this.granted.get(principal) ?? new Set<string>();
    for (const p of paths) resources.add(p);
    this.granted.set(principal, resources);
    const estimate = STATEMENT_OVERHEAD + [...resources].reduce((n, p) => n + LONGEST_ARN_PREFIX.length + p.length + 3, 0);
    if (estimate > IAM_INLINE_POLICY_LIMIT) {
      throw new Error(
        `the broker grants to ${principal.toString()} would need about ${estimate} characters of inline policy, over IAM's ${IAM_INLINE_POLICY_LIMIT} per role: ` +
          `grant a tenant group instead of its tenants one by one (tenantGroup('emea.') covers every tenant whose id starts with "emea."), or grantAdmin without a tenant`,
      );
    }
  }
}

/**
 * A grant's `*` is a path segment, never more: `{account}`, and `{tenant}` only for an admin of every
 * tenant. cdk-nag flags every resource with a `*` (AwsSolutions-IAM5); this acknowledges exactly
 * these resources on the grantee, which holds the policy. The finding id renders the ARN the way
 * cdk-nag does (`<LogicalId>`, `<AWS::Region>`), and the security test fails if the two drift.
 */
function acknowledgeInvokeWildcards(principal: iam.IPrincipal, arns: string[], tenant: TenantSelector | undefined): void {
  if (!Construct.isConstruct(principal)) return; // no policy of ours to acknowledge on
  const stack = Stack.of(principal as IConstruct);
  const reason =
    tenant === undefined
      ? 'execute-api:Invoke on the /v1 routes of every tenant (grantAdmin without a tenant): the method and path below /v1 are wildcards, and every route there is an IAM-authorized /v1 route.'
      : typeof tenant === 'string'
        ? `execute-api:Invoke on tenant ${tenant}'s routes only: a * is the {account} segment or, for an admin, any method and path below /v1/tenants/${tenant}/ (canonical paths only, so always this tenant).`
        : `execute-api:Invoke on the tenant group ${tenant.prefix}*: every tenant whose id starts with ${tenant.prefix}, and for the token routes any of their accounts.`;
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
