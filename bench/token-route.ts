import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import { localDataKeys } from '../lib/crypto/local-keys.js';
import { createTokenCipher, type DataKeyProvider } from '../lib/crypto/token-cipher.js';
import { silentLogger } from '../lib/log.js';
import { startLocalBroker, type LocalBroker } from '../local/local-broker.js';
import { keys } from '../lib/store/schema.js';
import type { LongPortSimulator } from '../simulator/longport-simulator.js';
import { ScriptedBrowser } from '../simulator/scripted-browser.js';

/**
 * The token route against the physical limit of the HTTP stack, on one local server:
 * - cached fetches vs `/healthz` (same load generator, same connections);
 * - a cache miss vs a raw GetItem + local decrypt on the same DynamoDB Local;
 * - data-key calls (KMS in AWS) per hit, miss and refresh.
 */
export async function benchTokenRoute(dynamoEndpoint: string, sim: LongPortSimulator, options: { durationS: number; connections: number; samples: number }) {
  const dataDir = await mkdtemp(join(tmpdir(), 'lpb-bench-'));
  const counting = countingKeys(localDataKeys(randomBytes(32)));
  const broker = await startLocalBroker({
    env: { PORT: '0', BROKER_DATA_DIR: dataDir, LONGPORT_ISSUER: sim.issuer, DYNAMODB_ENDPOINT: dynamoEndpoint, BROKER_TABLE_NAME: `bench-route-${Date.now()}` },
    log: silentLogger,
    refresher: false,
    keys: counting.provider,
  });
  try {
    const auth = { authorization: `Bearer ${broker.adminToken}` };
    await linkOne(broker, auth);
    const tokenUrl = `${broker.url}/v1/tenants/bench/accounts/alice/token`;

    // data-key calls per kind of request
    counting.reset();
    broker.deps.tokenCache.delete('bench/alice');
    await expectOk(await fetch(tokenUrl, { headers: auth }));
    const miss = counting.total();
    counting.reset();
    await expectOk(await fetch(tokenUrl, { headers: auth }));
    const hit = counting.total();
    counting.reset();
    await expectOk(await fetch(`${broker.url}/v1/tenants/bench/accounts/alice/refresh`, { method: 'POST', headers: auth }));
    const refresh = counting.snapshot();

    // throughput: /healthz, then cached token fetches, same generator and connections
    const bare = await load(`${broker.url}/healthz`, {}, options);
    await expectOk(await fetch(tokenUrl, { headers: auth }));
    const cached = await load(tokenUrl, auth, options);
    // diagnostic only: the same load with the audit write switched off, to show what limits the figure above
    const auditLog = broker.deps.auditLog;
    broker.deps.auditLog = { append: async () => {} } as unknown as typeof auditLog;
    const unaudited = await load(tokenUrl, auth, options);
    broker.deps.auditLog = auditLog;

    // latency: cache misses vs the raw store read + decrypt they contain
    const missMs: number[] = [];
    for (let i = 0; i < options.samples; i++) {
      broker.deps.tokenCache.delete('bench/alice');
      const t = performance.now();
      await expectOk(await fetch(tokenUrl, { headers: auth }));
      missMs.push(performance.now() - t);
    }
    const { db } = broker.deps;
    const cipher = createTokenCipher(counting.provider);
    const rawMs: number[] = [];
    const rawWithAuditMs: number[] = [];
    for (let i = 0; i < options.samples; i++) {
      let t = performance.now();
      const item = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.account('bench', 'alice'), ConsistentRead: true }));
      await cipher.open(item.Item!.sealedTokens as string, accountTokensContext('bench', 'alice'));
      rawMs.push(performance.now() - t);
      t = performance.now();
      const again = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.account('bench', 'alice'), ConsistentRead: true }));
      await cipher.open(again.Item!.sealedTokens as string, accountTokensContext('bench', 'alice'));
      await db.doc.send(new PutCommand({ TableName: db.table, Item: { pk: 'AUDIT#bench', sk: `${new Date().toISOString()}#raw${i}`, action: 'token.read' } }));
      rawWithAuditMs.push(performance.now() - t);
    }
    return {
      healthz_rps: Math.round(bare),
      cached_fetch_rps: Math.round(cached),
      cached_fetch_vs_bare_route: round(cached / bare, 3),
      diagnostic_cached_fetch_unaudited_vs_bare_route: round(unaudited / bare, 3),
      miss_fetch_p50_ms: round(p50(missMs), 2),
      raw_store_p50_ms: round(p50(rawMs), 2),
      miss_fetch_vs_raw_store: round(p50(missMs) / p50(rawMs), 3),
      miss_fetch_vs_raw_store_plus_audit_write: round(p50(missMs) / p50(rawWithAuditMs), 3),
      kms_calls: { hit, miss, refresh: refresh.generate + refresh.decrypt },
      kms_calls_refresh_detail: { encrypt: refresh.generate, decrypt: refresh.decrypt },
      load: { connections: options.connections, duration_s: options.durationS },
    };
  } finally {
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
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

async function load(url: string, headers: Record<string, string>, options: { durationS: number; connections: number }): Promise<number> {
  const result = await autocannon({ url, headers, connections: options.connections, duration: options.durationS });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors under load`);
  return result.requests.average;
}

/** A data-key provider that counts its calls (KMS GenerateDataKey / Decrypt in AWS). */
function countingKeys(inner: DataKeyProvider) {
  const counts = { generate: 0, decrypt: 0 };
  const provider: DataKeyProvider = {
    kind: inner.kind,
    generateDataKey: (ctx) => {
      counts.generate += 1;
      return inner.generateDataKey(ctx);
    },
    decryptDataKey: (blob, ctx) => {
      counts.decrypt += 1;
      return inner.decryptDataKey(blob, ctx);
    },
  };
  return {
    provider,
    reset: () => Object.assign(counts, { generate: 0, decrypt: 0 }),
    total: () => counts.generate + counts.decrypt,
    snapshot: () => ({ ...counts }),
  };
}

async function expectOk(res: Response): Promise<unknown> {
  const body = await res.json();
  if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(body)}`);
  return body;
}

const p50 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
