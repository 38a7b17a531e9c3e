/**
 * The broker deployed "as in AWS" inside a test process: the real `functions/<name>.ts` handlers in
 * AWS mode, DynamoDB Local for the table, the fake KMS behind aws-sdk-client-mock for the key, and a
 * LongPort simulator (real HTTP) as the provider, wired in through the environment the stack sets.
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, vi } from 'vitest';
import type { HttpFunctionName } from '../../lib/http/route-table.js';
import type { Db } from '../../lib/store/table.js';
import { startLongPortSimulator, type LongPortSimulator, type SimulatorOptions } from '../../simulator/longport-simulator.js';
import { recordCommandsOf, recordMockedCall } from './aws-commands.js';
import { apiGatewayEvent, asLambdaHandler, invoke, lambdaContext, type Answer, type EventInit, type LambdaHandler } from './apigw.js';
import { dynamoEndpoint, freshTable } from './dynamo.js';
import { FAKE_KEY_ARN, installFakeKms, type FakeKms } from './fake-kms.js';
import { captureJsonLogLines } from './stdout.js';

/** The API's default endpoint: the broker's BROKER_PUBLIC_URL and the domain of every event. */
export const API_DOMAIN = 'abc123def4.execute-api.us-east-1.amazonaws.com';
export const PUBLIC_URL = `https://${API_DOMAIN}`;
export const EVENT_BUS = 'longport-token-broker-test';

export interface LambdaDeployment {
  readonly kms: FakeKms;
  /** Events the functions published to EventBridge (mocked with aws-sdk-client-mock). */
  readonly events: PutEventsRequestEntry[];
  /** JSON lines the Lambda loggers wrote to stdout (kept out of the test output). */
  readonly logLines: string[];
  /** A fresh table and simulator, wired in; the functions start cold on them. */
  deploy(simulator?: SimulatorOptions): Promise<{ sim: LongPortSimulator; db: Db }>;
  /** `functions/<name>.ts`'s handler (imported once; its cold start reads the environment). */
  handler(name: HttpFunctionName): Promise<LambdaHandler>;
  /** An API Gateway v2 event for `init`, through `functions/<name>.ts`. */
  send(name: HttpFunctionName, init: EventInit): Promise<Answer>;
  /** Make every function cold again (the next invocation reads the environment and clock anew). */
  coldStart(): Promise<void>;
  /** `PUT /v1/tenants/{tenant}` through the register function. */
  registerTenant(tenant: string, returnToOrigins?: string[]): Promise<Answer>;
  /** link → authorize → provider login → callback, each broker step through its own function. */
  linkAccount(tenant: string, account: string, returnTo?: string): Promise<{ link: Answer; authorize: Answer; callbackUrl: string; callback: Answer }>;
}

/** Installs the AWS-mode environment for the test file (call at its top level). */
export function useLambdaDeployment(): LambdaDeployment {
  const logLines: string[] = [];
  const events: PutEventsRequestEntry[] = [];
  let kms: FakeKms | undefined;
  let eventBridge: ReturnType<typeof mockClient> | undefined;
  const loaded = new Map<HttpFunctionName, LambdaHandler>();
  const reset = async () => (await import('../../lib/runtime/aws.js')).resetLambdaDeps();

  beforeAll(() => {
    captureJsonLogLines(logLines);
    kms = installFakeKms(FAKE_KEY_ARN);
    eventBridge = mockClient(EventBridgeClient);
    eventBridge.on(PutEventsCommand).callsFake(async (input: { Entries?: PutEventsRequestEntry[] }, getClient: () => unknown) => {
      await recordMockedCall(getClient(), 'events', 'PutEvents');
      events.push(...(input.Entries ?? []));
      return { FailedEntryCount: 0, Entries: (input.Entries ?? []).map((_, i) => ({ EventId: `e-${events.length + i}` })) };
    });
    const env: Record<string, string> = {
      BROKER_MODE: 'aws',
      BROKER_KMS_KEY_ID: FAKE_KEY_ARN,
      BROKER_PUBLIC_URL: PUBLIC_URL,
      DYNAMODB_ENDPOINT: dynamoEndpoint(),
      BROKER_EVENT_BUS_NAME: EVENT_BUS,
      BROKER_REGIONS: '',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDFAKEFORTESTS',
      AWS_SECRET_ACCESS_KEY: 'fake-secret-for-tests',
      AWS_SESSION_TOKEN: '',
    };
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  });
  afterAll(() => {
    kms?.restore();
    eventBridge?.restore();
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });
  afterEach(async () => {
    kms?.heal();
    if (vi.isFakeTimers()) {
      vi.useRealTimers();
      // the next cold start reads the real clock again
      await reset();
    }
  });

  const handler = async (name: HttpFunctionName): Promise<LambdaHandler> => {
    let h = loaded.get(name);
    if (!h) {
      h = asLambdaHandler(((await import(`../../functions/${name}.ts`)) as { handler: unknown }).handler);
      loaded.set(name, h);
    }
    return h;
  };

  const send = async (name: HttpFunctionName, init: EventInit) => {
    const h = await handler(name);
    // the function's clients exist once its (possibly renewed) cold start ran: record what they send
    (await import('../../lib/runtime/aws.js')).lambdaDeps(name);
    await recordCommandsOf(name);
    const answer = await invoke(h, apiGatewayEvent(API_DOMAIN, init), lambdaContext());
    // as in Lambda, the invocation ends once the work it left (queued events, a pending commit) is done
    await (await import('../../lib/runtime/aws.js')).lambdaDeps(name).background.drain(10_000);
    return answer;
  };

  return {
    get kms() {
      if (!kms) throw new Error('the fake KMS is installed in beforeAll');
      return kms;
    },
    logLines,
    events,
    async deploy(simulator = {}) {
      // the provider's clock is the process clock, like the broker's, so faking Date moves both
      const sim = await startLongPortSimulator({ clock: () => Date.now(), ...simulator });
      const db = await freshTable('lambda');
      vi.stubEnv('LONGPORT_ISSUER', sim.issuer);
      vi.stubEnv('BROKER_TABLE_NAME', db.table);
      await reset();
      return { sim, db };
    },
    handler,
    send,
    coldStart: reset,
    registerTenant: (tenant, returnToOrigins = []) => send('register', { method: 'PUT', url: `/v1/tenants/${tenant}`, body: { region: 'global', return_to_origins: returnToOrigins } }),
    async linkAccount(tenant, account, returnTo) {
      const link = await send('authorize', { method: 'POST', url: `/v1/tenants/${tenant}/accounts/${account}/link`, body: returnTo ? { return_to: returnTo } : {} });
      if (link.status !== 201) throw new Error(`link answered ${link.status}: ${link.body}`);
      const authorize = await send('authorize', { method: 'GET', url: link.json<{ link_url: string }>().link_url });
      if (authorize.status !== 302) throw new Error(`authorize answered ${authorize.status}: ${authorize.body}`);
      const callbackUrl = await loginAtProvider(authorize.location!);
      const callback = await send('callback', { method: 'GET', url: callbackUrl, cookies: authorize.cookiePairs() });
      return { link, authorize, callbackUrl, callback };
    },
  };
}

/** The provider's part of a link, over real HTTP: open the login page, post its form, answer where it sends the browser. */
export async function loginAtProvider(authorizationUrl: string): Promise<string> {
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  const html = await page.text();
  const form = /<form method="POST" action="([^"]+)">/.exec(html);
  if (!form) throw new Error(`no login form (${page.status}): ${html.slice(0, 200)}`);
  const fields = [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(([, k, v]) => [k!, v!.replace(/&amp;/g, '&')]);
  const posted = await fetch(form[1]!.replace(/&amp;/g, '&'), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  const location = posted.headers.get('location');
  if (!location) throw new Error(`login answered ${posted.status} without a redirect`);
  return location;
}
