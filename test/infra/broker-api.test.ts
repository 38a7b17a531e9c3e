import { describe, expect, it } from 'vitest';
import { ACCESS_LOG_FIELDS } from '../../infra/broker-api.js';
import { routeKey, ROUTES, TOKEN_ROUTE } from '../../infra/routes.js';
import { DEFAULT_THROTTLES } from '../../infra/token-broker.js';
import { defaultBroker, logicalId, resourcesOf, synthBroker } from './support.js';

const { template } = defaultBroker();
const routes = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Route'));
const stage = Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Stage'))[0]!;
const integrationFunction = (integrationRef: string): string => {
  const integration = resourcesOf(template, 'AWS::ApiGatewayV2::Integration')[integrationRef]!;
  return (integration.Properties!.IntegrationUri as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
};

/** Route key → authorization type: IAM for every caller but the public one (the route table says who calls). */
const EXPECTED_AUTH: Record<string, 'AWS_IAM' | 'NONE'> = Object.fromEntries(ROUTES.map((r) => [routeKey(r), r.access === 'public' ? 'NONE' : 'AWS_IAM']));

describe('BrokerApi routes', () => {
  it('has exactly the routes of the route table, and no catch-all route', () => {
    expect(routes.map((r) => r.Properties!.RouteKey).sort()).toEqual(Object.keys(EXPECTED_AUTH).sort());
  });

  it.each(Object.entries(EXPECTED_AUTH))('%s uses authorization %s', (key, auth) => {
    const route = routes.find((r) => r.Properties!.RouteKey === key)!;
    expect(route.Properties!.AuthorizationType).toBe(auth);
  });

  it('every /v1 route uses IAM authorization (SigV4); only /oauth/*, /healthz and /openapi.json are public', () => {
    for (const r of routes) {
      const key = r.Properties!.RouteKey as string;
      const isPublic = / \/oauth\/| \/healthz$| \/openapi\.json$/.test(key);
      expect(r.Properties!.AuthorizationType).toBe(isPublic ? 'NONE' : 'AWS_IAM');
    }
  });

  it.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r.fn] as const))('%s is served by the %s function', (key, fn) => {
    const route = routes.find((r) => r.Properties!.RouteKey === key)!;
    const target = (route.Properties!.Target as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1][1] as { Ref: string };
    const cap = `${fn[0]!.toUpperCase()}${fn.slice(1)}`;
    expect(integrationFunction(target.Ref)).toBe(logicalId(template, 'AWS::Lambda::Function', `Broker${cap}Function`));
  });

  it('integrations use payload format 2.0', () => {
    for (const i of Object.values(resourcesOf(template, 'AWS::ApiGatewayV2::Integration'))) {
      expect(i.Properties!.PayloadFormatVersion).toBe('2.0');
    }
  });

  it('each Lambda permission lets API Gateway invoke from one route only', () => {
    const permissions = Object.values(resourcesOf(template, 'AWS::Lambda::Permission')).filter(
      (p) => p.Properties!.Principal === 'apigateway.amazonaws.com',
    );
    expect(permissions).toHaveLength(routes.length);
    for (const p of permissions) expect(JSON.stringify(p.Properties!.SourceArn)).toMatch(/\/\*\/\*\/(v1|oauth|healthz|openapi)/);
  });
});

describe('BrokerApi stage', () => {
  it('is the auto-deployed $default stage; a route not listed in RouteSettings gets the /v1 per-route limit', () => {
    expect(stage.Properties!.StageName).toBe('$default');
    expect(stage.Properties!.AutoDeploy).toBe(true);
    expect(stage.Properties!.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: DEFAULT_THROTTLES.v1.rateLimit, ThrottlingBurstLimit: DEFAULT_THROTTLES.v1.burstLimit });
  });

  it('every route has its own limit: the token route the highest, each other /v1 route less, each public route least', () => {
    const settings = stage.Properties!.RouteSettings as Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }>;
    expect(Object.keys(settings).sort()).toEqual(ROUTES.map(routeKey).sort());
    for (const r of ROUTES) {
      const expected = r === TOKEN_ROUTE ? DEFAULT_THROTTLES.token : r.access === 'public' ? DEFAULT_THROTTLES.public : DEFAULT_THROTTLES.v1;
      expect(settings[routeKey(r)], routeKey(r)).toEqual({ ThrottlingRateLimit: expected.rateLimit, ThrottlingBurstLimit: expected.burstLimit });
    }
    // route settings name route keys, which must exist before the stage refers to them
    expect(stage.DependsOn).toEqual(expect.arrayContaining(Object.keys(resourcesOf(template, 'AWS::ApiGatewayV2::Route'))));
  });

  it('the most the API accepts is the sum of its routes\' limits (an HTTP API has no limit across routes)', () => {
    const { stack } = defaultBroker();
    const settings = stage.Properties!.RouteSettings as Record<string, { ThrottlingRateLimit: number }>;
    expect(stack.broker.api.totalRateLimit).toBe(Object.values(settings).reduce((n, s) => n + s.ThrottlingRateLimit, 0));
    template.hasOutput('MaxRequestsPerSecond', { Value: String(stack.broker.api.totalRateLimit) });
  });

  it('per-route limits are stack parameters', () => {
    const { template: t } = synthBroker({ throttles: { token: { rateLimit: 900, burstLimit: 1800 } } });
    const s = Object.values(resourcesOf(t, 'AWS::ApiGatewayV2::Stage'))[0]!.Properties!.RouteSettings;
    expect(s[routeKey(TOKEN_ROUTE)]).toEqual({ ThrottlingRateLimit: 900, ThrottlingBurstLimit: 1800 });
    expect(s['GET /oauth/callback']).toEqual({ ThrottlingRateLimit: DEFAULT_THROTTLES.public.rateLimit, ThrottlingBurstLimit: DEFAULT_THROTTLES.public.burstLimit });
  });

  it('writes JSON access logs to a log group with a retention', () => {
    const group = logicalId(template, 'AWS::Logs::LogGroup', 'BrokerHttpAccessLogs');
    expect(stage.Properties!.AccessLogSettings.DestinationArn).toEqual({ 'Fn::GetAtt': [group, 'Arn'] });
    expect(resourcesOf(template, 'AWS::Logs::LogGroup')[group]!.Properties!.RetentionInDays).toBe(30);
    const line = (stage.Properties!.AccessLogSettings.Format as string).replace('$context.status', '200').replace('$context.responseLatency', '12');
    expect(Object.keys(JSON.parse(line))).toEqual(Object.keys(ACCESS_LOG_FIELDS));
  });

  it('access logs never record query strings: route key only, no raw path, no error message', () => {
    const format = stage.Properties!.AccessLogSettings.Format as string;
    const variables = format.match(/\$context\.[A-Za-z.]+/g)!;
    expect(variables).toContain('$context.routeKey');
    expect(variables).toContain('$context.requestId');
    for (const v of variables) {
      expect(v).not.toMatch(/path|query|querystring|requestOverride|error\.message|authorizer\.error|integrationErrorMessage/i);
    }
    expect(format).not.toMatch(/\$input|\$request|\$method/);
  });
});

describe('BrokerApi outputs', () => {
  it('keeps the execute-api endpoint without a custom domain (it is the API URL)', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: false });
  });

  it('outputs the API URL and the callback URL', () => {
    const api = logicalId(template, 'AWS::ApiGatewayV2::Api', 'BrokerHttpApi');
    template.hasOutput('ApiUrl', { Value: { 'Fn::GetAtt': [api, 'ApiEndpoint'] } });
    template.hasOutput('CallbackUrl', { Value: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [api, 'ApiEndpoint'] }, '/oauth/callback']] } });
  });

  it('with a custom domain, serves the API there and hands that URL to the functions', () => {
    const { template: t } = synthBroker({
      customDomain: { domainName: 'broker.example.com', certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/abc' },
    });
    t.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'broker.example.com',
      DomainNameConfigurations: [{ CertificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/abc', EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' }],
    });
    t.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 1);
    // the execute-api URL would be a second way in, around the domain's TLS policy
    t.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: true });
    t.hasOutput('ApiUrl', { Value: 'https://broker.example.com' });
    t.hasOutput('CallbackUrl', { Value: 'https://broker.example.com/oauth/callback' });
    t.hasOutput('CustomDomainTarget', {});
    for (const fn of Object.values(resourcesOf(t, 'AWS::Lambda::Function'))) {
      expect(fn.Properties!.Environment.Variables.BROKER_PUBLIC_URL).toBe('https://broker.example.com');
    }
  });
});
