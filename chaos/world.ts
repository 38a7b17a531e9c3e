import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startDynamoDbLocal, type DynamoDbLocal } from '../local/dynamodb-local.js';
import { ScriptedBrowser } from '../simulator/scripted-browser.js';
import { startLongPortSimulator, type LongPortSimulator } from '../simulator/longport-simulator.js';
import { startBrokerProcess, type BrokerProcess } from './broker-process.js';
import { startTcpFaultProxy, type TcpFaultProxy } from './tcp-proxy.js';
import { startWebhook, type Webhook } from './webhook.js';

/**
 * Everything the chaos suite runs, as real processes and real sockets:
 * - DynamoDB Local (its own JVM), reached only through a TCP proxy that can freeze or drop it;
 * - the LongPort simulator (real HTTP; its faults, holds and `takeDown()` are the provider's faults);
 * - a webhook that answers or hangs (`BROKER_WEBHOOK_URL`);
 * - the broker as `npm start` runs it (`node --import tsx bin/local.ts`), a child process that a
 *   scenario may `kill -9` and start again on the same port, data directory and table.
 */
export interface World {
  sim: LongPortSimulator;
  store: TcpFaultProxy;
  webhook: Webhook;
  /** The broker process now running. */
  readonly broker: BrokerProcess;
  /** The broker's URL; the same across restarts (a fixed port). */
  url: string;
  adminToken: string;
  dataDir: string;
  /** The environment every broker process of this world starts with. */
  env: Record<string, string>;
  /** What every broker process of this world printed, oldest process first. */
  brokerOutput(): string;
  /** `kill -9` of the broker; resolves once it is dead. */
  crashBroker(): Promise<void>;
  /** Starts the broker again on the same port, data directory and table. */
  startBroker(): Promise<void>;
  close(): Promise<void>;
}

export const TENANT = 'acme';
/** The refresher runs often, so work it owns (retries of what failed) happens within a scenario. */
const REFRESH_INTERVAL_S = 5;

/** `dynamoEndpoint`: a DynamoDB Local already running (the test run's); else the world starts its own. */
export async function startWorld(options: { dynamoEndpoint?: string } = {}): Promise<World> {
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    let dynamoPort: number;
    if (options.dynamoEndpoint) {
      dynamoPort = Number(new URL(options.dynamoEndpoint).port);
    } else {
      const ddb: DynamoDbLocal = await startDynamoDbLocal();
      cleanups.push(() => ddb.stop());
      dynamoPort = ddb.port;
    }
    const store = await startTcpFaultProxy({ port: dynamoPort });
    cleanups.push(() => store.close());
    const sim = await startLongPortSimulator();
    cleanups.push(() => sim.close());
    const webhook = await startWebhook();
    cleanups.push(() => webhook.close());
    const dataDir = await mkdtemp(join(tmpdir(), 'lpb-chaos-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const env = {
      PORT: String(port),
      BROKER_DATA_DIR: dataDir,
      DYNAMODB_ENDPOINT: store.url,
      BROKER_TABLE_NAME: `chaos-${randomBytes(4).toString('hex')}`,
      LONGPORT_ISSUER: sim.issuer,
      BROKER_WEBHOOK_URL: webhook.url,
      BROKER_REFRESH_INTERVAL_S: String(REFRESH_INTERVAL_S),
    };
    let broker = await startBrokerProcess({ env });
    const earlier: BrokerProcess[] = [];
    cleanups.push(() => broker.stop());
    const adminToken = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    return {
      sim,
      store,
      webhook,
      get broker() {
        return broker;
      },
      url: broker.url,
      adminToken,
      dataDir,
      env,
      brokerOutput: () => [...earlier, broker].map((b) => `--- broker process ${b.pid}\n${b.output()}`).join('\n'),
      crashBroker: () => broker.crash(),
      async startBroker() {
        earlier.push(broker);
        broker = await startBrokerProcess({ env });
      },
      async close() {
        for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
      },
    };
  } catch (err) {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    throw err;
  }
}

/** What a caller saw for one request. */
export interface Answer {
  method: string;
  path: string;
  /** HTTP status, or 0 when no answer came (connection refused or reset). */
  status: number;
  /** The contract's `error`, or the network error's code for status 0. */
  error: string | undefined;
  retryAfterS: number | undefined;
  body: Record<string, unknown> | undefined;
  startedAt: number;
  endedAt: number;
}

/** One broker request as a caller makes it; never throws. */
export async function call(world: Pick<World, 'url' | 'adminToken'>, method: string, path: string, body?: unknown): Promise<Answer> {
  const startedAt = Date.now();
  try {
    const res = await fetch(`${world.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${world.adminToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(120_000),
    });
    const text = await res.text();
    let json: Record<string, unknown> | undefined;
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      json = undefined;
    }
    const retryAfter = res.headers.get('retry-after');
    return {
      method,
      path,
      status: res.status,
      error: typeof json?.error === 'string' ? json.error : undefined,
      retryAfterS: retryAfter === null ? undefined : Number(retryAfter),
      body: json,
      startedAt,
      endedAt: Date.now(),
    };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return { method, path, status: 0, error: cause?.code ?? (err as Error).name, retryAfterS: undefined, body: undefined, startedAt, endedAt: Date.now() };
  }
}

/**
 * A caller that tries again what may work in a moment (503, 429, no answer) after `Retry-After` (1 s
 * when none), until another answer or `limitMs`; answers every attempt, the final one last.
 */
export async function callUntilFinal(world: Pick<World, 'url' | 'adminToken'>, method: string, path: string, body?: unknown, limitMs = 60_000): Promise<Answer[]> {
  const answers: Answer[] = [];
  const start = Date.now();
  for (;;) {
    const answer = await call(world, method, path, body);
    answers.push(answer);
    const transient = answer.status === 503 || answer.status === 429 || answer.status === 0;
    if (!transient || Date.now() - start > limitMs) return answers;
    await sleep(Math.min(answer.retryAfterS ?? 1, 5) * 1000);
  }
}

/** Registers the world's tenant (discovery and dynamic registration at the simulator). */
export async function registerTenant(world: World): Promise<void> {
  const answer = await call(world, 'PUT', `/v1/tenants/${TENANT}`, { region: 'global', return_to_origins: ['https://app.example.com'] });
  if (answer.status !== 201 && answer.status !== 200) throw new Error(`tenant registration answered ${answer.status} ${answer.error}`);
}

/** A browser for the end user: the broker and the simulator over real HTTP, cookies kept per site. */
export const endUserBrowser = () => new ScriptedBrowser(() => (url, init) => fetch(url, { ...init, redirect: 'manual' }));

/** Creates a link for `account` and completes it in a browser; throws unless it linked. */
export async function link(world: World, account: string): Promise<void> {
  const created = await call(world, 'POST', `/v1/tenants/${TENANT}/accounts/${account}/link`, {});
  if (created.status !== 201) throw new Error(`link of ${account} answered ${created.status} ${created.error}`);
  const { callback } = await endUserBrowser().completeLink(created.body!.link_url as string);
  if (callback.status !== 200) throw new Error(`the callback of ${account} answered ${callback.status}`);
}

/** True while the provider's API accepts `accessToken` (`get_security_list`). */
export async function providerAccepts(world: World, accessToken: string): Promise<boolean> {
  const res = await fetch(`${world.sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${accessToken}` } });
  await res.arrayBuffer();
  return res.status === 200;
}

/** Polls `condition` until it holds or `limitMs` passed; answers whether it held. */
export async function eventually(condition: () => Promise<boolean> | boolean, limitMs: number, everyMs = 250): Promise<boolean> {
  for (const start = Date.now(); ; await sleep(everyMs)) {
    if (await condition()) return true;
    if (Date.now() - start > limitMs) return false;
  }
}
