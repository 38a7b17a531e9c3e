import { randomBytes } from 'node:crypto';
import { openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { Agent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { startTcpFaultProxy, type TcpFaultProxy } from '../chaos/tcp-proxy.js';
import { PROJECT_ROOT } from '../infra/bundling.js';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import { TokenCache } from '../lib/broker/token-cache.js';
import type { TokenReadCounts } from '../lib/broker/read-counts.js';
import { localDataKeys } from '../lib/crypto/local-keys.js';
import { createTokenCipher } from '../lib/crypto/token-cipher.js';
import { batchedSink, createLogger } from '../lib/log.js';
import { startLocalBroker, type LocalBroker } from '../local/local-broker.js';
import { keys } from '../lib/store/schema.js';
import { createDb } from '../lib/store/table.js';
import type { LongPortSimulator } from '../simulator/longport-simulator.js';
import { ScriptedBrowser } from '../simulator/scripted-browser.js';
import { countingKeys } from '../test/support/counting-keys.js';
import { recordStoreCalls } from '../test/support/store-calls.js';
import { costUsd, PRICES } from './costs.js';
import { median, round } from './stats.js';

/**
 * The token route against the physical limit of the HTTP stack, on one local server:
 * - cached fetches vs `/healthz` (same load generator, same connections), and the DynamoDB calls
 *   and audit writes the cached fetches cost (the counts they leave included);
 * - a cache miss of an already-exposed token vs a raw GetItem + local decrypt on the same DynamoDB Local;
 * - data-key calls (KMS in AWS) per hit, miss and refresh;
 * - cost per million reads at on-demand prices, from the calls counted;
 * - cached fetches while DynamoDB is unreachable (a TCP proxy in front of it, cut).
 */
export async function benchTokenRoute(dynamoEndpoint: string, sim: LongPortSimulator, options: { durationS: number; rounds: number; connections: number; samples: number; outageS: number }) {
  const dataDir = await mkdtemp(join(tmpdir(), 'lpb-bench-'));
  const counting = countingKeys(localDataKeys(randomBytes(32)));
  const accessLog = { lines: 0, bytes: 0 };
  // left open until the bench exits: a line logged while the broker stops is still written
  const logFile = openSync(join(dataDir, 'broker.log'), 'w');
  const toLogFile = batchedSink((chunk) => writeSync(logFile, chunk));
  const table = `bench-route-${Date.now()}`;
  const broker = await startLocalBroker({
    env: { PORT: '0', BROKER_DATA_DIR: dataDir, LONGPORT_ISSUER: sim.issuer, DYNAMODB_ENDPOINT: dynamoEndpoint, BROKER_TABLE_NAME: table },
    // the log written as `npm start` writes it (to a file here, not the terminal), and what the
    // access log would ingest, measured
    log: createLogger({
      sink: (line) => {
        toLogFile(line);
        if (!line.includes('"event":"http.access"')) return;
        accessLog.lines += 1;
        accessLog.bytes += Buffer.byteLength(line) + 1;
      },
    }),
    refresher: false,
    keys: counting.provider,
  });
  const proxy = await startTcpFaultProxy(dynamoEndpoint);
  try {
    const auth = { authorization: `Bearer ${broker.adminToken}` };
    await linkOne(broker, auth);
    const tokenUrl = `${broker.url}/v1/tenants/bench/accounts/alice/token`;
    const { db } = broker.deps;

    // data-key calls per kind of request; the first read exposes the token to this caller
    await expectOk(await fetch(tokenUrl, { headers: auth }));
    counting.reset();
    broker.deps.tokenCache.delete('bench/alice');
    await expectOk(await fetch(tokenUrl, { headers: auth }));
    const miss = counting.total();
    counting.reset();
    await expectOk(await fetch(tokenUrl, { headers: auth }));
    const hit = counting.total();
    // a forced refresh, past any floor on forced refreshes (the last refresh made a minute ago)
    await db.doc.send(
      new UpdateCommand({ TableName: db.table, Key: keys.account('bench', 'alice'), UpdateExpression: 'SET refreshedAt = :past', ExpressionAttributeValues: { ':past': Date.now() - 60_000 } }),
    );
    const grants = sim.stats.refreshGrants;
    counting.reset();
    await expectOk(await fetch(`${broker.url}/v1/tenants/bench/accounts/alice/refresh`, { method: 'POST', headers: auth }));
    const refresh = { ...counting.counts };
    if (sim.stats.refreshGrants !== grants + 1) throw new Error('the forced refresh made no grant');

    // throughput: /healthz and cached token fetches, same generator and connections, after a
    // one-second warm-up of each (the JIT compiles the paths under load before they are measured);
    // then rounds of one and the other in turn, so that a change in the machine's speed (a shared,
    // virtual machine) weighs on both alike: each round's ratio, and their median
    const warmUp = { ...options, durationS: 1 };
    const oneRound = { ...options, durationS: options.durationS / options.rounds };
    await load(`${broker.url}/healthz`, {}, warmUp);
    await load(tokenUrl, auth, warmUp);
    await broker.deps.readCounts.flush();
    // the audit log writes through the same client as the rest of the broker
    const calls = recordStoreCalls(db);
    const linesBefore = { ...accessLog };
    counting.reset();
    const rounds: { bare: number; cached: number }[] = [];
    let cachedRequests = 0;
    for (let i = 0; i < options.rounds; i++) {
      const bareRound = await load(`${broker.url}/healthz`, {}, oneRound);
      const cachedRound = await load(tokenUrl, auth, oneRound);
      rounds.push({ bare: bareRound.rps, cached: cachedRound.rps });
      cachedRequests += cachedRound.requests;
    }
    const bare = { rps: median(rounds.map((r) => r.bare)) };
    const cached = { rps: median(rounds.map((r) => r.cached)), requests: cachedRequests };
    // the counts of those reads, written as the next flush would write them
    await broker.deps.readCounts.flush();
    const cachedCalls = [...calls.calls];
    const cachedAuditWrites = calls.auditWrites();
    const cachedKms = counting.total();
    calls.stop();
    const accessLineBytes = (accessLog.bytes - linesBefore.bytes) / Math.max(1, accessLog.lines - linesBefore.lines);

    // the same comparison with the load generator in a process of its own (on a core of its own):
    // what a service calling the broker over the network sees, and what is left of the ratio once
    // the generator's share, the same for both routes, no longer sits on the broker's thread
    const apart = { ...options, rounds: 3, durationS: 2 };
    await loadFromAnotherProcess(`${broker.url}/healthz`, {}, { ...apart, durationS: 1 });
    await loadFromAnotherProcess(tokenUrl, auth, { ...apart, durationS: 1 });
    const apartRounds: { bare: number; cached: number }[] = [];
    for (let i = 0; i < apart.rounds; i++) {
      apartRounds.push({ bare: (await loadFromAnotherProcess(`${broker.url}/healthz`, {}, apart)).rps, cached: (await loadFromAnotherProcess(tokenUrl, auth, apart)).rps });
    }

    // diagnostic only: the same load with read counting switched off, to show what it costs
    const counts = broker.deps.readCounts;
    broker.deps.readCounts = { count: () => {}, flushIfDue: () => {} } as unknown as TokenReadCounts;
    const uncounted = await load(tokenUrl, auth, oneRound);
    broker.deps.readCounts = counts;

    // latency: cache misses of an already-exposed token vs the raw store read + decrypt they contain,
    // and cache hits one at a time (the same HTTP round trip and broker layers, no I/O). The requests
    // go over one kept-alive connection of node:http, as a load generator sends them; the same
    // requests through fetch are a diagnostic (fetch's own client-side work is not the broker's)
    const client = keptAliveClient();
    const hitRead = () => client.get(tokenUrl, auth);
    const missRead = () => {
      broker.deps.tokenCache.delete('bench/alice');
      return client.get(tokenUrl, auth);
    };
    const missThroughFetch = () => {
      broker.deps.tokenCache.delete('bench/alice');
      return fetch(tokenUrl, { headers: auth }).then(expectOk);
    };
    const cipher = createTokenCipher(counting.provider);
    const raw = async () => {
      const item = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.account('bench', 'alice'), ConsistentRead: true }));
      await cipher.open(item.Item!.sealedTokens as string, accountTokensContext('bench', 'alice'));
    };
    let rawAudits = 0;
    const rawWithAudit = async () => {
      await raw();
      await db.doc.send(new PutCommand({ TableName: db.table, Item: { pk: 'AUDIT#bench#raw', sk: `${new Date().toISOString()}#raw${rawAudits++}`, action: 'token.read' } }));
    };
    // one of each in turn, so that a change in the machine's load weighs on all of them alike
    const missCalls = recordStoreCalls(db);
    const missOnly = { calls: [] as typeof missCalls.calls, kms: 0 };
    const measuredMiss = async () => {
      const [calls, kms] = [missCalls.calls.length, counting.total()];
      await missRead();
      missOnly.calls.push(...missCalls.calls.slice(calls));
      missOnly.kms += counting.total() - kms;
    };
    const [hitMs, missMs, rawMs, rawWithAuditMs, missThroughFetchMs] = (await timedInTurn([hitRead, measuredMiss, raw, rawWithAudit, missThroughFetch], options.samples)) as [number[], number[], number[], number[], number[]];
    missCalls.stop();
    client.close();
    const misses = options.samples + warmUpOf(options.samples);
    const missUsd = costUsd(missOnly.calls, missOnly.kms) / misses;

    // DynamoDB unreachable: cached fetches of an already-exposed caller, revalidated every 0.5 s (and failing)
    const served = await duringOutage(broker, tokenUrl, auth, proxy, table, { ...options, durationS: options.outageS });

    const requests = cached.requests;
    const cachedUsd = costUsd(cachedCalls, cachedKms) / requests;
    const uncachedUsd = missUsd;
    return {
      healthz_rps: Math.round(bare.rps),
      cached_fetch_rps: Math.round(cached.rps),
      cached_fetch_vs_bare_route: round(median(rounds.map((r) => r.cached / r.bare)), 3),
      cached_fetch_vs_bare_route_by_round: rounds.map((r) => round(r.cached / r.bare, 3)),
      cached_fetch_vs_bare_route_client_in_another_process: round(median(apartRounds.map((r) => r.cached / r.bare)), 3),
      cached_fetch_vs_bare_route_client_in_another_process_by_round: apartRounds.map((r) => round(r.cached / r.bare, 3)),
      diagnostic_cached_fetch_unaudited_vs_bare_route: round(uncounted.rps / bare.rps, 3),
      dynamodb_calls_per_cached_fetch: round(cachedCalls.length / requests, 6),
      dynamodb_calls_in_cached_run: cachedCalls.map((c) => c.name),
      audit_writes_per_1000_cached_reads: round((cachedAuditWrites / requests) * 1000, 4),
      cached_reads_in_run: requests,
      miss_fetch_p50_ms: round(median(missMs), 2),
      raw_store_p50_ms: round(median(rawMs), 2),
      miss_fetch_vs_raw_store: round(median(missMs) / median(rawMs), 3),
      miss_fetch_vs_raw_store_plus_audit_write: round(median(missMs) / median(rawWithAuditMs), 3),
      hit_fetch_p50_ms: round(median(hitMs), 2),
      diagnostic_miss_beyond_a_hit_vs_raw_store: round((median(missMs) - median(hitMs)) / median(rawMs), 3),
      diagnostic_miss_through_fetch_p50_ms: round(median(missThroughFetchMs), 2),
      diagnostic_miss_through_fetch_vs_raw_store: round(median(missThroughFetchMs) / median(rawMs), 3),
      dynamodb_calls_per_miss: round(missOnly.calls.length / misses, 3),
      kms_calls_per_miss_in_run: round(missOnly.kms / misses, 3),
      kms_calls: { hit, miss, refresh: refresh.generate + refresh.decrypt },
      kms_calls_refresh_detail: { encrypt: refresh.generate, decrypt: refresh.decrypt },
      cost_per_million_token_reads_usd: { cached: round(cachedUsd * 1e6, 4), uncached: round(uncachedUsd * 1e6, 4) },
      access_log_bytes_per_token_read: Math.round(accessLineBytes),
      access_log_usd_per_million_token_reads: round(((accessLineBytes * 1e6) / 1e9) * PRICES.logsIngestedGbUsd, 4),
      prices: PRICES,
      token_reads_while_store_unreachable: served,
      load: { connections: options.connections, duration_s: options.durationS, rounds: options.rounds, outage_s: options.outageS },
    };
  } finally {
    await proxy.close();
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * Cached fetches while the broker's table is unreachable for real: its reads go through a TCP proxy
 * that is cut for the run. Every cached entry is due for revalidation after 0.5 s, so revalidations
 * keep failing and the cache serves the still-valid token stale (its bound: 5 minutes).
 */
async function duringOutage(
  broker: LocalBroker,
  tokenUrl: string,
  auth: Record<string, string>,
  proxy: TcpFaultProxy,
  table: string,
  options: { durationS: number; connections: number },
) {
  const { db, tokenCache } = broker.deps;
  broker.deps.db = createDb({ table, endpoint: proxy.url });
  broker.deps.tokenCache = new TokenCache({ revalidateAfterMs: 500 });
  try {
    await expectOk(await fetch(tokenUrl, { headers: auth }));
    await proxy.set('refuse');
    const result = await autocannon({ url: tokenUrl, headers: auth, connections: options.connections, duration: options.durationS });
    const ok = result['2xx'];
    const total = ok + result.non2xx + result.errors;
    return { served: ok, requests: total, share: round(ok / Math.max(1, total), 4) };
  } finally {
    await proxy.set('pass');
    broker.deps.db = db;
    broker.deps.tokenCache = tokenCache;
  }
}

async function linkOne(broker: LocalBroker, auth: Record<string, string>): Promise<void> {
  const json = { ...auth, 'content-type': 'application/json' };
  await expectOk(await fetch(`${broker.url}/v1/tenants/bench`, { method: 'PUT', headers: json, body: JSON.stringify({ region: 'global' }) }));
  const link = (await expectOk(await fetch(`${broker.url}/v1/tenants/bench/accounts/alice/link`, { method: 'POST', headers: json, body: '{}' }))) as { link_url: string };
  const browser = new ScriptedBrowser(() => (url, init) => fetch(url, { ...init, redirect: 'manual' }));
  const { callback } = await browser.completeLink(link.link_url);
  if (callback.status !== 200) throw new Error(`linking failed: ${callback.status}`);
}

async function load(url: string, headers: Record<string, string>, options: { durationS: number; connections: number }): Promise<{ rps: number; requests: number }> {
  const result = await autocannon({ url, headers, connections: options.connections, duration: options.durationS });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors under load`);
  return { rps: result.requests.average, requests: result.requests.total };
}

const runFile = promisify(execFile);

/**
 * The same load as {@link load}, generated by autocannon in a child process. Its options go in the
 * environment, not the command line, which any process on the machine can read.
 */
async function loadFromAnotherProcess(url: string, headers: Record<string, string>, options: { durationS: number; connections: number }): Promise<{ rps: number }> {
  const script = `import autocannon from 'autocannon'; const r = await autocannon(JSON.parse(process.env.BENCH_LOAD)); console.log(JSON.stringify({ rps: r.requests.average, non2xx: r.non2xx, errors: r.errors }));`;
  const { stdout } = await runFile(process.execPath, ['--input-type=module', '-e', script], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, BENCH_LOAD: JSON.stringify({ url, headers, connections: options.connections, duration: options.durationS }) },
    encoding: 'utf8',
  });
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as { rps: number; non2xx: number; errors: number };
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors under load from another process`);
  return result;
}

/** Latency samples of each of `runs`, one after the other in turn, after a warm-up of a quarter as many rounds (the JIT compiles each path first). */
async function timedInTurn(runs: (() => Promise<unknown>)[], samples: number): Promise<number[][]> {
  for (let i = 0; i < warmUpOf(samples); i++) for (const run of runs) await run();
  const ms = runs.map(() => [] as number[]);
  for (let i = 0; i < samples; i++) {
    for (const [k, run] of runs.entries()) {
      const t = performance.now();
      await run();
      ms[k]!.push(performance.now() - t);
    }
  }
  return ms;
}

const warmUpOf = (samples: number) => Math.ceil(samples / 4);

/**
 * GETs over one kept-alive connection (node:http), answering the parsed body of a 200 and
 * throwing on anything else: the client of the latency samples.
 */
function keptAliveClient(): { get(url: string, headers: Record<string, string>): Promise<unknown>; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return {
    get: (url, headers) =>
      new Promise((resolve, reject) => {
        get(url, { agent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode === 200) resolve(JSON.parse(body));
            else reject(new Error(`${res.statusCode} ${body}`));
          });
          res.on('error', reject);
        }).on('error', reject);
      }),
    close: () => agent.destroy(),
  };
}

async function expectOk(res: Response): Promise<unknown> {
  const body = await res.json();
  if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(body)}`);
  return body;
}

