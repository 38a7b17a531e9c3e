/**
 * `npm run bench`: the product's benchmark. It starts its own DynamoDB Local and LongPort simulator,
 * measures, writes `bench/results.json` and prints the same figures as a table. Benchmarks measure;
 * tests never assert on time.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import type { BrokerDeps } from '../lib/broker/deps.js';
import { runRefresher } from '../lib/broker/refresher.js';
import { registerTenant } from '../lib/broker/tenant-registration.js';
import { loadConfig } from '../lib/config.js';
import { localDataKeys } from '../lib/crypto/local-keys.js';
import { memoryPublisher } from '../lib/events.js';
import { startDynamoDbLocal } from '../local/dynamodb-local.js';
import { silentLogger } from '../lib/log.js';
import { assembleDeps } from '../lib/runtime/assemble.js';
import { keys, dueShardOf } from '../lib/store/schema.js';
import { createDb, ensureTable } from '../lib/store/table.js';
import { startLongPortSimulator, type LongPortSimulator } from '../simulator/longport-simulator.js';
import { tokenCallsFromProcesses } from '../test/support/workers.js';
import { ADMIN_TOKEN } from '../test/support/harness.js';
import { countReads } from './reads.js';
import { seedAccounts } from './seed.js';
import { round } from './stats.js';
import { benchTokenRoute } from './token-route.js';
import { measureBundles } from './bundles.js';

const TOTAL_ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000);
const DUE_SHARE = 0.01;
const SINGLE_FLIGHT_CALLERS = 1_000;

const log = (line: string) => console.log(`[bench] ${line}`);

async function brokerFor(endpoint: string, sim: LongPortSimulator, masterKey: Buffer, table: string): Promise<BrokerDeps> {
  const db = createDb({ table, endpoint });
  await ensureTable(db);
  const config = loadConfig({ LONGPORT_ISSUER: sim.issuer, BROKER_PUBLIC_URL: 'http://localhost:8787', BROKER_ADMIN_TOKEN: ADMIN_TOKEN, BROKER_TABLE_NAME: table });
  return assembleDeps({ config, db, keys: localDataKeys(masterKey), events: memoryPublisher(), log: silentLogger });
}

const admin = { id: 'bench', role: 'admin' as const, tenants: '*' as const };

async function benchRefresher(endpoint: string, sim: LongPortSimulator) {
  const deps = await brokerFor(endpoint, sim, randomBytes(32), `bench-refresher-${Date.now()}`);
  const tenant = await registerTenant(deps, admin, 'bench', { region: 'global' });
  const due = Math.round(TOTAL_ACCOUNTS * DUE_SHARE);
  log(`seeding ${TOTAL_ACCOUNTS} linked accounts (${due} due) …`);
  const seedStart = performance.now();
  await seedAccounts(deps, sim, { tenant: 'bench', clientId: tenant.view.client_id, total: TOTAL_ACCOUNTS, due, progress: (n) => log(`  ${n} written`) });
  log(`seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

  const reads = countReads(deps.db);
  const grantsBefore = sim.stats.refreshGrants;
  const started = performance.now();
  const report = await runRefresher(deps, { deadline: Date.now() + 5 * 60_000, concurrency: 16 });
  const wallS = (performance.now() - started) / 1000;
  log(`refresher run: ${report.refreshed}/${report.due} refreshed in ${wallS.toFixed(2)} s`);
  return {
    refresher_total_accounts: TOTAL_ACCOUNTS,
    refresher_due_accounts: report.due,
    refresher_refreshed: report.refreshed,
    refresher_grants: sim.stats.refreshGrants - grantsBefore,
    refresher_items_read_per_due_account: round(reads.itemsRead / Math.max(1, report.due), 3),
    refresher_rcu_per_due_account: round(reads.rcu / Math.max(1, report.due), 4),
    refresher_accounts_per_s: round(report.refreshed / wallS, 1),
    refresher_run_wall_s: round(wallS, 2),
  };
}

async function benchSingleFlight(endpoint: string, sim: LongPortSimulator) {
  const masterKey = randomBytes(32);
  const deps = await brokerFor(endpoint, sim, masterKey, `bench-flight-${Date.now()}`);
  const tenant = await registerTenant(deps, admin, 'acme', { region: 'global' });
  const grant = sim.seedGrant(tenant.view.client_id);
  const now = Date.now();
  // an access token that has just expired: every caller needs a refresh at once
  await deps.db.doc.send(
    new PutCommand({
      TableName: deps.db.table,
      Item: {
        ...keys.account('acme', 'alice'),
        tenant: 'acme',
        account: 'alice',
        status: 'linked',
        scope: '3',
        issuer: sim.issuer,
        generation: 1,
        sealedTokens: await deps.cipher.seal({ access_token: grant.access_token, refresh_token: grant.refresh_token }, accountTokensContext('acme', 'alice')),
        expiresAt: now - 1000,
        refreshedAt: now - 3_600_000,
        linkedAt: now - 3_600_000,
        dueAt: Math.floor(now / 1000),
        dueShard: dueShardOf('acme', 'alice'),
      },
    }),
  );
  const grantsBefore = sim.stats.refreshGrants;
  const summaries = await tokenCallsFromProcesses({ db: deps.db, sim, masterKey }, endpoint, { processes: 4, callsEach: SINGLE_FLIGHT_CALLERS / 4, tenant: 'acme', account: 'alice' });
  const tokens = new Set(summaries.flatMap((s) => s.tokens));
  const ok = summaries.reduce((n, s) => n + (s.statuses['200'] ?? 0), 0);
  log(`single flight: ${ok}/${SINGLE_FLIGHT_CALLERS} answered 200 with ${tokens.size} distinct token(s)`);
  return {
    single_flight_callers: SINGLE_FLIGHT_CALLERS,
    single_flight_processes: 4,
    single_flight_grants: sim.stats.refreshGrants - grantsBefore,
    single_flight_ok_answers: ok,
    single_flight_distinct_tokens: tokens.size,
    single_flight_reuse_detected: sim.stats.reuseDetected,
  };
}


async function main(): Promise<void> {
  const started = performance.now();
  log('starting DynamoDB Local (in memory) and the LongPort simulator …');
  const ddb = await startDynamoDbLocal();
  const sim = await startLongPortSimulator();
  const results: Record<string, unknown> = {
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', memory_gib: Math.round(totalmem() / 2 ** 30), node: process.version, date: new Date().toISOString() },
  };
  try {
    log('token route: cached fetches vs /healthz, cache misses vs the raw store read …');
    Object.assign(results, await benchTokenRoute(ddb.endpoint, sim, { durationS: 10, rounds: 5, connections: 32, samples: 200, outageS: 3 }));
    Object.assign(results, await benchRefresher(ddb.endpoint, sim));
    Object.assign(results, await benchSingleFlight(ddb.endpoint, sim));
  } finally {
    await sim.close();
    await ddb.stop();
  }
  // cold starts need neither, and an idle machine: DynamoDB Local's JVM is stopped first
  log('bundling every function and timing its module init …');
  Object.assign(results, await measureBundles(9));
  results.bench_wall_s = round((performance.now() - started) / 1000, 1);
  await writeFile(new URL('./results.json', import.meta.url), JSON.stringify(results, null, 2) + '\n');
  printTable(results);
}

function printTable(results: Record<string, unknown>): void {
  const rows = Object.entries(results).filter(([k]) => k !== 'machine');
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log('\n' + 'figure'.padEnd(width) + '  value');
  console.log('-'.repeat(width) + '  ' + '-'.repeat(24));
  for (const [k, v] of rows) console.log(k.padEnd(width) + '  ' + (typeof v === 'object' ? JSON.stringify(v) : String(v)));
  const m = results.machine as Record<string, unknown>;
  console.log(`\nmachine: ${m.cpus} × ${m.cpu_model}, ${m.memory_gib} GiB, Node ${m.node}; written to bench/results.json`);
}

main().catch((err: unknown) => {
  console.error('bench failed:', err);
  process.exit(1);
});
