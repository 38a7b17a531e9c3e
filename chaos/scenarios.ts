import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOCK_FILE, type DataDirLockHolder } from '../local/data-dir-lock.js';
import { freePort } from '../local/dynamodb-local.js';
import { dynamoDbLocalsServing } from '../local/processes.js';
import type { HeldTokenRequest } from '../simulator/longport-simulator.js';
import { startBrokerProcess } from './broker-process.js';
import { call, callUntilFinal, endUserBrowser, eventually, link, providerAccepts, TENANT, type Answer, type World } from './world.js';

/**
 * The chaos scenarios, each written against the contract's promises (CONTRACT.md, issue 13), not
 * against the code: a fault is made real (a process killed, the store frozen, the provider down,
 * the webhook hung), callers call as callers do, and afterwards every account is asked to prove it
 * still works. Each scenario answers rows: the fault, the promise, what callers saw, what was lost.
 */
export interface ChaosRow {
  /** The scenario that produced it. */
  scenario: string;
  fault: string;
  promise: string;
  /** What the callers saw: answers by status and code, with Retry-After and the longest wait. */
  saw: string;
  /** What was lost: `nothing`, or what, and whether it was already lost upstream. */
  lost: string;
  kept: boolean;
  /**
   * Asserted by `npm test` (test/chaos.test.ts) as well as printed by `npm run chaos`. False for a
   * promise that main does not keep yet (the part of issue 11 or 13 that delivers it is named in
   * `promise`): `npm run chaos` reports it, and it joins `npm test` once main keeps it.
   */
  ci: boolean;
}

/** A row whose last word (`lost`, `kept`) waits for the final check of its accounts. */
interface PendingRow extends Omit<ChaosRow, 'scenario' | 'lost' | 'kept'> {
  /** Accounts that must still serve at the end (refresh at the provider, token accepted). */
  accounts: string[];
  /** A check that needs time (work the broker does later, in the background): run after every scenario. */
  later?: () => Promise<{ lost: string[]; held: boolean }>;
  /** What the scenario itself found lost, and whether its own checks held. */
  lost: string[];
  held: boolean;
}

export interface Scenario {
  name: string;
  /** Accounts the scenario needs linked (more than 10 s before it runs: forced refreshes must reach the provider). */
  accounts: string[];
  run(world: World, progress: (line: string) => void): Promise<PendingRow[]>;
}

const STORE_OUTAGE_MS = 30_000;
/** A revocation that failed for an outage is retried within this once the provider is back (first retry after a minute, refresher every 5 s). */
const REVOCATION_RETRY_WITHIN_MS = 90_000;
const PROVIDER_OUTAGE_MS = 12_000;
/**
 * An answer that began this long before its dependency came back, yet ended after it, waited for
 * the dependency (a deadline of a few seconds ends well before; without one, the answer comes when
 * the dependency does). Twice and more the longest chain of deadlines a request can meet.
 */
const WAITED_MARGIN_MS = 20_000;

/** How far apart two sockets' events may reach this process (an answer, and the close of the webhook request before it). */
const SOCKET_ORDER_GRACE_MS = 200;

const tokenPath = (account: string) => `/v1/tenants/${TENANT}/accounts/${account}/token`;
const refreshPath = (account: string) => `/v1/tenants/${TENANT}/accounts/${account}/refresh`;
const accountPath = (account: string) => `/v1/tenants/${TENANT}/accounts/${account}`;

/** "200 × 12; 503 temporarily_unavailable (Retry-After 1 s) × 5; longest wait 4.1 s". */
export function summarize(answers: Answer[]): string {
  if (answers.length === 0) return 'no request';
  const groups = new Map<string, Answer[]>();
  for (const a of answers) {
    const key = a.status === 0 ? `no answer (${a.error})` : `${a.status}${a.error ? ` ${a.error}` : ''}`;
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  const parts = [...groups].map(([key, group]) => {
    const waits = [...new Set(group.map((a) => a.retryAfterS).filter((s) => s !== undefined))].sort((x, y) => x! - y!);
    return `${key}${waits.length ? ` (Retry-After ${waits.join('/')} s)` : ''} × ${group.length}`;
  });
  const longest = Math.max(...answers.map((a) => a.endedAt - a.startedAt)) / 1000;
  return longest >= 1 ? `${parts.join('; ')}; longest wait ${longest.toFixed(1)} s` : parts.join('; ');
}

const isFinal503 = (a: Answer) => a.status === 503 && a.retryAfterS !== undefined && a.retryAfterS >= 1 && a.retryAfterS <= 60;
const no500 = (answers: Answer[]) => answers.every((a) => a.status < 500 || isFinal503(a));
/** Answers that began well before the dependency came back and still ended after it: they waited on it. */
const waitedOn = (answers: Answer[], backAt: number) => answers.filter((a) => a.startedAt <= backAt - WAITED_MARGIN_MS && a.endedAt > backAt);

/** The next token request the simulator holds; throws when none reaches it within `limitMs` (the broker never called the provider). */
async function heldRequest(world: World, limitMs = 30_000): Promise<HeldTokenRequest> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no refresh reached the provider within ${limitMs / 1000} s`)), limitMs);
  });
  try {
    return await Promise.race([world.sim.tokenRequestHeld(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const waitedFor = (answers: Answer[], what: string) => (answers.length ? ` (${answers.length} of them waited until ${what} came back)` : '');

/** Calls `once` back to back until `until`; answers every answer. */
async function keepCalling(until: number, once: () => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  while (Date.now() < until) {
    answers.push(await once());
    await sleep(250);
  }
  return answers;
}

/** The store frozen for 30 s (connections accepted, nothing answered) under cached and uncached reads, with a refresh in flight. */
export const storeFrozen: Scenario = {
  name: 'store frozen 30 s',
  accounts: ['s-cached', 's-uncached', 's-refresh'],
  async run(world, progress) {
    const warm = await call(world, 'GET', tokenPath('s-cached'));
    if (warm.status !== 200) throw new Error(`warming the cache answered ${warm.status}`);
    const refreshedBefore = (await call(world, 'GET', accountPath('s-refresh'))).body?.refreshed_at;
    // a refresh the provider has processed (rotated) whose answer reaches the broker with the store frozen
    world.sim.holdTokenRequests('processed', { grantType: 'refresh_token' });
    const inFlight = call(world, 'POST', refreshPath('s-refresh'));
    const held = await heldRequest(world);
    await world.store.set('freeze');
    const frozenAt = Date.now();
    const backAt = frozenAt + STORE_OUTAGE_MS;
    progress(`store frozen until ${new Date(backAt).toISOString()}`);
    await held.release();
    const [cached, uncached] = await Promise.all([
      keepCalling(backAt, () => call(world, 'GET', tokenPath('s-cached'))),
      keepCalling(backAt, () => call(world, 'GET', tokenPath('s-uncached'))),
    ]);
    await world.store.set('pass');
    progress('store back');
    const refreshAnswer = await inFlight;
    const cachedAfter = await callUntilFinal(world, 'GET', tokenPath('s-cached'), undefined, 20_000);
    const uncachedAfter = await callUntilFinal(world, 'GET', tokenPath('s-uncached'), undefined, 20_000);
    // the rotated pair waits in this process for the store: the scenario ends once it is committed
    // (the next scenario kills the process, which would take a pair still waiting with it)
    const committedAt = await untilRefreshedSince(world, 's-refresh', refreshedBefore, 30_000);
    const committedAfterMs = committedAt === undefined ? undefined : Math.max(0, committedAt - backAt);

    const waitedCached = waitedOn(cached, backAt);
    const waitedUncached = waitedOn(uncached, backAt);
    return [
      {
        fault: 'the store frozen for 30 s: cached token reads',
        promise: 'a token this instance already served is answered from memory with no store call (issue 11, zero-I/O hits): 200 throughout',
        saw: `during: ${summarize(cached)}${waitedFor(waitedCached, 'the store')}; after: ${summarize(cachedAfter)}`,
        accounts: ['s-cached'],
        lost: [],
        held: cached.length > 0 && cached.every((a) => a.status === 200) && waitedCached.length === 0 && cachedAfter.at(-1)?.status === 200,
        ci: true,
      },
      {
        fault: 'the store frozen for 30 s: uncached token reads',
        promise: '503 with Retry-After ≤ 60 s, answered within seconds while the store is still down (never held until it returns), never 500; 200 once it is back',
        saw: `during: ${summarize(uncached)}${waitedFor(waitedUncached, 'the store')}; after: ${summarize(uncachedAfter)}`,
        accounts: ['s-uncached'],
        lost: [],
        held: uncached.length > 0 && uncached.every(isFinal503) && waitedUncached.length === 0 && uncachedAfter.at(-1)?.status === 200,
        ci: true,
      },
      {
        fault: 'the store frozen for 30 s while a refresh is in flight (the provider has rotated the pair)',
        promise: 'the rotated pair is never dropped while its process lives: once the store is back the account refreshes again, with no reauth and no reuse (issue 13 item 3)',
        saw: `the refreshing caller: ${summarize([refreshAnswer])}; the pair ${committedAfterMs === undefined ? 'not committed within 30 s' : `committed ${(committedAfterMs / 1000).toFixed(1)} s after the store came back`}`,
        accounts: ['s-refresh'],
        lost: [],
        held: (refreshAnswer.status === 200 || isFinal503(refreshAnswer)) && committedAfterMs !== undefined,
        ci: true,
      },
    ];
  },
};

/** When (ms epoch) the account's `refreshed_at` was first seen to differ from `before`; undefined after `limitMs`. */
async function untilRefreshedSince(world: World, account: string, before: unknown, limitMs: number): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < limitMs) {
    const read = await call(world, 'GET', accountPath(account));
    if (read.status === 200 && read.body?.refreshed_at !== before) return Date.now();
    await sleep(250);
  }
  return undefined;
}

/** `kill -9` of the broker with two refreshes in flight: one not yet processed by the provider, one processed and not yet answered. */
export const killDuringRefresh: Scenario = {
  name: 'kill -9 during refreshes',
  accounts: ['k-before', 'k-after'],
  async run(world, progress) {
    const reuseBefore = world.sim.stats.reuseDetected;
    world.sim.holdTokenRequests('received', { grantType: 'refresh_token' });
    const before = call(world, 'POST', refreshPath('k-before'));
    const heldBefore = await heldRequest(world);
    world.sim.holdTokenRequests('processed', { grantType: 'refresh_token' });
    const after = call(world, 'POST', refreshPath('k-after'));
    const heldAfter = await heldRequest(world);
    progress(`kill -9 of the broker (process ${world.broker.pid}) with one refresh received and one processed at the provider`);
    await world.crashBroker();
    const [inFlightBefore, inFlightAfter] = await Promise.all([before, after]);
    await Promise.all([heldBefore.callerGone, heldAfter.callerGone]);
    const [recordBefore, recordAfter] = await Promise.all([heldBefore.release(), heldAfter.release()]);
    await world.startBroker();
    progress(`broker restarted (process ${world.broker.pid})`);
    const [retriedBefore, retriedAfter] = await Promise.all([
      callUntilFinal(world, 'POST', refreshPath('k-before'), undefined, 60_000),
      callUntilFinal(world, 'POST', refreshPath('k-after'), undefined, 60_000),
    ]);
    const accountAfter = await call(world, 'GET', accountPath('k-after'));
    const reuse = world.sim.stats.reuseDetected - reuseBefore;

    const neverProcessed = recordBefore.status === 0;
    const finalAfter = retriedAfter.at(-1)!;
    return [
      {
        fault: 'kill -9 of the broker during a refresh, before the provider processed it',
        promise: 'nothing lost: the request never counted upstream; after a restart the account refreshes (once the dead process’s lease lapses), no reauth, no reuse',
        saw: `in flight: ${summarize([inFlightBefore])}; after the restart: ${summarize(retriedBefore)}`,
        accounts: ['k-before'],
        lost: neverProcessed ? [] : ['the provider processed a request whose caller had died'],
        held: neverProcessed && retriedBefore.at(-1)?.status === 200,
        ci: true,
      },
      {
        fault: 'kill -9 of the broker during a refresh, after the provider processed it',
        promise: 'only what was lost upstream: the provider rotated the pair and its answer never left it; the broker then says so (409 reauth_required, account needs_reauth), never 500, and no other account is touched',
        saw: `in flight: ${summarize([inFlightAfter])}; after the restart: ${summarize(retriedAfter)}`,
        accounts: [],
        lost: [
          `the grant of k-after, lost upstream (the provider rotated it, answer ${recordAfter.status === 0 ? 'never sent' : `sent ${recordAfter.status}`}); the old refresh token presented once afterwards (${reuse} reuse detected)`,
        ],
        held: finalAfter.status === 409 && finalAfter.error === 'reauth_required' && accountAfter.body?.status === 'needs_reauth' && no500(retriedAfter),
        ci: true,
      },
    ];
  },
};

/** The provider down (`takeDown()`), then up again, under reads, a forced refresh, a registration, an unlink and a link's callback. */
export const providerDown: Scenario = {
  name: 'provider down',
  accounts: ['p-read', 'p-refresh', 'p-unlink'],
  async run(world, progress) {
    const unlinkToken = await call(world, 'GET', tokenPath('p-unlink'));
    const unlinkAccess = unlinkToken.body?.access_token as string;
    const created = await call(world, 'POST', `/v1/tenants/${TENANT}/accounts/p-link/link`, {});
    const browser = endUserBrowser();
    const linkUrl = created.body!.link_url as string;
    const callbackUrl = await browser.reachCallback(linkUrl);

    await world.sim.takeDown();
    const downAt = Date.now();
    const upAt = downAt + PROVIDER_OUTAGE_MS;
    progress(`provider down until ${new Date(upAt).toISOString()}`);
    const callbackAnswer = await timedPage(() => browser.open(callbackUrl));
    const [reads, refreshes, registration, unlink] = await Promise.all([
      keepCalling(upAt, () => call(world, 'GET', tokenPath('p-read'))),
      keepCalling(upAt, () => call(world, 'POST', refreshPath('p-refresh'))),
      call(world, 'PUT', '/v1/tenants/newco', { region: 'global' }),
      call(world, 'DELETE', accountPath('p-unlink')),
    ]);
    await world.sim.bringUp();
    progress('provider up');
    const refreshAfter = await callUntilFinal(world, 'POST', refreshPath('p-refresh'), undefined, 20_000);
    const registrationAfter = await callUntilFinal(world, 'PUT', '/v1/tenants/newco', { region: 'global' }, 20_000);
    // the end user tries again from the same link
    let relinked = 'not linked';
    try {
      const again = await browser.completeLink(linkUrl);
      relinked = `${again.callback.status}`;
    } catch (err) {
      relinked = `refused (${(err as Error).message.split(':')[0]})`;
    }
    const pLink = await call(world, 'GET', accountPath('p-link'));
    const upAgainAt = Date.now();

    const waitedRefresh = waitedOn(refreshes, upAt);
    return [
      {
        fault: 'the provider down for 12 s: reads of valid tokens',
        promise: 'served from the store: 200 throughout',
        saw: summarize(reads),
        accounts: ['p-read'],
        lost: [],
        held: reads.length > 0 && reads.every((a) => a.status === 200),
        ci: true,
      },
      {
        fault: 'the provider down for 12 s: forced refreshes',
        promise: '503 upstream_unavailable with Retry-After ≤ 60 s within seconds, never 500; 200 once it is back',
        saw: `during: ${summarize(refreshes)}${waitedFor(waitedRefresh, 'the provider')}; after: ${summarize(refreshAfter)}`,
        accounts: ['p-refresh'],
        lost: [],
        held: refreshes.length > 0 && refreshes.every((a) => isFinal503(a) && a.error === 'upstream_unavailable') && waitedRefresh.length === 0 && refreshAfter.at(-1)?.status === 200,
        ci: true,
      },
      {
        fault: 'the provider down for 12 s: a tenant registration',
        promise: '503 upstream_unavailable with Retry-After ≤ 60 s; 201 once it is back',
        saw: `during: ${summarize([registration])}; after: ${summarize(registrationAfter)}`,
        accounts: [],
        lost: [],
        held: isFinal503(registration) && registration.error === 'upstream_unavailable' && registrationAfter.at(-1)?.status === 201,
        ci: true,
      },
      {
        fault: 'the provider down for 12 s: an unlink',
        promise: '204 at once; the refresh token is revoked upstream once the provider is back (retried later, issue 13 item 9)',
        saw: summarize([unlink]),
        accounts: [],
        lost: [],
        held: unlink.status === 204,
        // a pending revocation is retried a minute after it failed, then 2, 4, … minutes: the other scenarios run meanwhile
        later: async () => {
          const revoked = await eventually(async () => !(await providerAccepts(world, unlinkAccess)), upAgainAt + REVOCATION_RETRY_WITHIN_MS - Date.now(), 1_000);
          return { lost: revoked ? [] : ['p-unlink’s grant stays live at the provider after the unlink (never revoked)'], held: revoked };
        },
        ci: true,
      },
      {
        fault: 'the provider down for 12 s: a link’s callback',
        promise: 'a 503 page with Retry-After; the end user then completes linking from the same link (issue 13 item 6)',
        saw: `callback: ${callbackAnswer}; the same link again after: ${relinked}`,
        accounts: [],
        lost: pLink.body?.status === 'linked' ? [] : ['the link: the end user must ask for a new one'],
        held: callbackAnswer.startsWith('503') && pLink.body?.status === 'linked',
        ci: true,
      },
    ];
  },
};

/** The browser's answer as "status (Retry-After n s)". */
async function timedPage(open: () => Promise<Response>): Promise<string> {
  const res = await open();
  await res.arrayBuffer();
  const retryAfter = res.headers.get('retry-after');
  return `${res.status}${retryAfter ? ` (Retry-After ${retryAfter} s)` : ''}`;
}

/** The webhook hangs (reads each request, never answers) while accounts are unlinked, linked and fail to refresh. */
export const webhookHangs: Scenario = {
  name: 'webhook hangs',
  accounts: ['w-unlink', 'w-fail'],
  async run(world, progress) {
    world.webhook.hang();
    progress('webhook hangs');
    const waited: string[] = [];
    // the broker waited for the webhook when it gave up on a delivery before it answered; the two
    // sockets' events may reach this process in either order, hence a moment's grace
    const watch = async (what: string, action: () => Promise<Answer>): Promise<Answer> => {
      const since = Date.now();
      const answer = await action();
      await sleep(SOCKET_ORDER_GRACE_MS);
      if (world.webhook.abandonedSince(since).some((d) => d.abandonedAt! <= answer.endedAt + SOCKET_ORDER_GRACE_MS)) waited.push(what);
      return answer;
    };
    const unlink = await watch('unlink', () => call(world, 'DELETE', accountPath('w-unlink')));
    const linked = await watch('link', async () => {
      const started = Date.now();
      try {
        await link(world, 'w-link');
        return { method: 'GET', path: '/oauth/callback', status: 200, error: undefined, retryAfterS: undefined, body: undefined, startedAt: started, endedAt: Date.now() };
      } catch (err) {
        return { method: 'GET', path: '/oauth/callback', status: 0, error: (err as Error).message.slice(0, 40), retryAfterS: undefined, body: undefined, startedAt: started, endedAt: Date.now() };
      }
    });
    world.sim.setFaults({ tokenStatus: 503, retryAfterS: 0, failCount: 3 });
    const failed = await watch('failed refresh', () => call(world, 'POST', refreshPath('w-fail')));
    world.sim.resetFaults();
    world.webhook.answer();
    progress('webhook answers again');
    const expected: [string, string][] = [
      ['AccountUnlinked', 'w-unlink'],
      ['AccountLinked', 'w-link'],
      ['TokenRefreshFailed', 'w-fail'],
    ];
    await eventually(() => expected.every(([type, account]) => world.webhook.delivered(type, account)), 20_000, 500);
    const undelivered = expected.filter(([type, account]) => !world.webhook.delivered(type, account));
    const dropped = countInLog(world.broker.output(), 'EventsDropped');
    const uncounted = Math.max(0, undelivered.length - dropped);
    return [
      {
        fault: 'a webhook that hangs (reads each request, never answers)',
        promise: 'answers never wait for the webhook; each event is delivered once it answers again, or counted as dropped (issue 13 item 8)',
        saw: `unlink: ${summarize([unlink])}; link: ${summarize([linked])}; failing refresh: ${summarize([failed])}${waited.length ? `; waited for the webhook: ${waited.join(', ')}` : ''}`,
        accounts: [],
        lost: uncounted ? [`${uncounted} of ${expected.length} events neither delivered nor counted (${undelivered.map(([t]) => t).join(', ')})`] : [],
        held: waited.length === 0 && uncounted === 0 && unlink.status === 204 && linked.status === 200 && isFinal503(failed),
        ci: true,
      },
    ];
  },
};

/** Sum of an EMF metric over the JSON log lines a broker printed. */
function countInLog(output: string, metric: string): number {
  let sum = 0;
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const value = (JSON.parse(line) as Record<string, unknown>)[metric];
      if (typeof value === 'number') sum += value;
    } catch {
      // not a log line
    }
  }
  return sum;
}

/** `kill -9` of a broker that runs its own DynamoDB Local (no DYNAMODB_ENDPOINT), then a restart on the same data directory. */
export const ownDynamoDbLocalCrash: Scenario = {
  name: 'kill -9 with its own DynamoDB Local',
  accounts: [],
  async run(world, progress) {
    const dataDir = join(world.dataDir, 'own');
    const dbPath = join(dataDir, 'dynamodb');
    const env = { PORT: String(await freePort()), BROKER_DATA_DIR: dataDir, LONGPORT_ISSUER: world.sim.issuer };
    let broker = await startBrokerProcess({ env });
    const self = { url: broker.url, adminToken: (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim() };
    try {
      const registered = await call(self, 'PUT', '/v1/tenants/solo', { region: 'global' });
      const jvm = (JSON.parse(await readFile(join(dbPath, LOCK_FILE), 'utf8')) as DataDirLockHolder).dynamodb!.pid;
      progress(`kill -9 of a broker (process ${broker.pid}) that runs DynamoDB Local (process ${jvm})`);
      await broker.crash();
      const gap = await call(self, 'GET', '/v1/tenants/solo');
      const alone = await eventually(async () => (await dynamoDbLocalsServing(dbPath)).length === 0, 20_000);
      const leftRunning = await dynamoDbLocalsServing(dbPath);
      broker = await startBrokerProcess({ env });
      const after = await call(self, 'GET', '/v1/tenants/solo');
      const serving = await dynamoDbLocalsServing(dbPath);
      return [
        {
          fault: 'kill -9 of a broker that runs its own DynamoDB Local',
          promise: 'no DynamoDB Local left running on its own; a restart on the same data directory works, with the data kept, and one DynamoDB Local serves it',
          saw: `before: ${summarize([registered])}; while down: ${summarize([gap])}; after the restart: ${summarize([after])}`,
          accounts: [],
          lost: alone ? [] : [`DynamoDB Local left running on its own (process ${leftRunning.join(', ')})`],
          held: registered.status === 201 && alone && after.status === 200 && serving.length === 1 && !serving.includes(jvm),
          ci: true,
        },
      ];
    } finally {
      await broker.stop();
    }
  },
};

export const SCENARIOS: Scenario[] = [storeFrozen, killDuringRefresh, providerDown, webhookHangs, ownDynamoDbLocalCrash];

/**
 * The last word on an account: it is still linked, a forced refresh reaches the provider and
 * answers 200 (so the refresh token the broker holds is the live one), no reuse is detected, and
 * the new access token works at the provider's API.
 */
export async function stillServes(world: World, account: string): Promise<string | undefined> {
  // a commit that lands while this check runs (a pair retried in the background) makes the forced
  // refresh coalesce with it (no provider call): then the check waits out the 10 s and asks once more
  for (let attempt = 1; ; attempt++) {
    const read = await callUntilFinal(world, 'GET', accountPath(account), undefined, 20_000);
    const record = read.at(-1)!;
    if (record.status !== 200) return `${account}: GET answered ${record.status} ${record.error ?? ''}`.trim();
    if (record.body?.status !== 'linked') return `${account}: ${String(record.body?.status)}`;
    // a forced refresh within 10 s of the last one answers that token without the provider: wait it out
    const refreshedAt = Date.parse(String(record.body.refreshed_at));
    const wait = refreshedAt + 11_000 - Date.now();
    if (wait > 0) await sleep(wait);
    const reuseBefore = world.sim.stats.reuseDetected;
    const grantsBefore = world.sim.stats.refreshGrants;
    const refreshed = (await callUntilFinal(world, 'POST', refreshPath(account), undefined, 40_000)).at(-1)!;
    if (world.sim.stats.reuseDetected > reuseBefore) return `${account}: its refresh token was a rotated-out one (reuse detected: the grant is revoked)`;
    if (refreshed.status !== 200) return `${account}: a forced refresh answered ${refreshed.status} ${refreshed.error ?? ''}`.trim();
    if (world.sim.stats.refreshGrants === grantsBefore) {
      if (attempt < 2) continue;
      return `${account}: the forced refresh did not reach the provider`;
    }
    if (!(await providerAccepts(world, refreshed.body!.access_token as string))) return `${account}: the provider refuses its new access token`;
    return undefined;
  }
}

/** Links every account the scenarios need, runs them in order, then checks every account they named. */
export async function runChaos(world: World, scenarios: Scenario[], progress: (line: string) => void = () => {}): Promise<ChaosRow[]> {
  for (const account of scenarios.flatMap((s) => s.accounts)) await link(world, account);
  progress(`linked ${scenarios.flatMap((s) => s.accounts).length} accounts`);
  // forced refreshes within 10 s of an account's last refresh do not reach the provider
  await sleep(11_000);
  const pending: (PendingRow & { scenario: string })[] = [];
  for (const scenario of scenarios) {
    progress(`— ${scenario.name}`);
    try {
      pending.push(...(await scenario.run(world, progress)).map((row) => ({ ...row, scenario: scenario.name })));
    } catch (err) {
      pending.push({ scenario: scenario.name, fault: scenario.name, promise: '(the scenario could not run)', saw: (err as Error).message, accounts: [], lost: ['unknown'], held: false, ci: true });
    } finally {
      world.sim.releaseHeldTokenRequests();
      world.sim.resetFaults();
      await world.sim.bringUp();
      await world.store.set('pass');
      world.webhook.answer();
    }
  }
  progress('— checking every account');
  const rows: ChaosRow[] = [];
  for (const row of pending) {
    const failures: string[] = [];
    for (const account of row.accounts) {
      const failure = await stillServes(world, account);
      if (failure) failures.push(failure);
    }
    const settled = row.later ? await row.later() : { lost: [], held: true };
    const lost = [...row.lost, ...settled.lost, ...failures];
    const { accounts: _accounts, held, later: _later, ...rest } = row;
    rows.push({ ...rest, lost: lost.length ? lost.join('; ') : 'nothing', kept: held && settled.held && failures.length === 0 && lost.every((l) => l.includes('lost upstream')) });
  }
  return rows;
}

/** The table, as Markdown. */
export function chaosTable(rows: ChaosRow[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = ['| fault | the promise | what callers saw | what was lost | kept |', '|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${cell(r.fault)} | ${cell(r.promise)} | ${cell(r.saw)} | ${cell(r.lost)} | ${r.kept ? 'yes' : '**no**'} |`);
  return lines.join('\n');
}
