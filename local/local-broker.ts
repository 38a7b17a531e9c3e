import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { BrokerDeps } from '../lib/broker/deps.js';
import { runRefresher } from '../lib/broker/refresher.js';
import { loadConfig } from '../lib/config.js';
import { loadOrCreateLocalKey, localDataKeys } from '../lib/crypto/local-keys.js';
import type { DataKeyProvider } from '../lib/crypto/token-cipher.js';
import { localPublisher } from '../lib/events.js';
import { buildBrokerApp } from '../lib/http/broker-app.js';
import { brokerRequestListener } from '../lib/http/node-listener.js';
import { cachedTokenLane } from '../lib/http/token-lane.js';
import { ALL_GROUPS } from '../lib/http/routes/index.js';
import { createLogger, type Logger } from '../lib/log.js';
import { assembleDeps } from '../lib/runtime/assemble.js';
import { createDb, ensureTable } from '../lib/store/table.js';
import { consoleRoutes } from '../console/serve.js';
import { freePort, startDynamoDbLocal, type DynamoDbLocal } from './dynamodb-local.js';
import { ownerOnly } from './owner-only.js';

/**
 * Local mode (CONTRACT.md): DynamoDB Local (or `DYNAMODB_ENDPOINT`), the table, a local key file
 * instead of KMS, the HTTP API on 127.0.0.1, and the refresher on a timer — all in one process.
 */
export interface LocalBroker {
  url: string;
  publicUrl: string;
  adminToken: string;
  /** Where the admin token is kept, or undefined when it came from `BROKER_ADMIN_TOKEN`. */
  adminTokenFile: string | undefined;
  deps: BrokerDeps;
  stop(): Promise<void>;
}

export interface LocalBrokerOptions {
  env?: Record<string, string | undefined>;
  log?: Logger;
  /** Progress lines for a person at a terminal. */
  progress?: (line: string) => void;
  /** Run the scheduled refresher on its timer (default true). */
  refresher?: boolean;
  /** Data keys to use instead of the local key file (benchmarks count calls through this). */
  keys?: DataKeyProvider;
}

export async function startLocalBroker(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
  const env = { ...(options.env ?? process.env) };
  const say = options.progress ?? (() => {});
  // PORT=0 asks for a free port; the public URL defaults to the port actually used
  if (env.PORT === '0') env.PORT = String(await freePort());
  const config = loadConfig(env);
  const log = options.log ?? createLogger();
  const dataDir = resolve(config.local.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // local data files are readable by their owner only: the directory 0700, every file in it 0600
  await ownerOnly(dataDir);

  let ddb: DynamoDbLocal | undefined;
  let endpoint = config.dynamodbEndpoint;
  if (endpoint) {
    say(`DynamoDB at ${endpoint} (DYNAMODB_ENDPOINT)`);
  } else {
    say('starting DynamoDB Local …');
    ddb = await startDynamoDbLocal({ dataDir: join(dataDir, 'dynamodb') });
    endpoint = ddb.endpoint;
    for (const pid of ddb.orphansStopped) say(`stopped a DynamoDB Local left serving ${join(config.local.dataDir, 'dynamodb')} by a crashed broker (process ${pid})`);
    say(`DynamoDB Local on ${endpoint} (data in ${join(config.local.dataDir, 'dynamodb')})`);
  }
  const stopDdb = async () => ddb?.stop();
  try {
    const db = createDb({ table: config.tableName, endpoint });
    const table = await ensureTable(db);
    say(`table ${config.tableName} ${table === 'created' ? 'created' : 'ready'}`);

    let keys = options.keys;
    if (!keys) {
      const { key, created } = await loadOrCreateLocalKey(join(dataDir, 'local.key'));
      say(`token key ${join(config.local.dataDir, 'local.key')} (${created ? 'created, mode 0600' : 'existing'}): AES-256-GCM, bound to {tenant, account, purpose}`);
      keys = localDataKeys(key);
    }

    const adminTokenFile = config.local.adminToken ? undefined : join(config.local.dataDir, 'admin.token');
    const adminToken = config.local.adminToken ?? (await loadOrCreateAdminToken(join(dataDir, 'admin.token')));
    const fullConfig = { ...config, local: { ...config.local, adminToken } };
    const deps = assembleDeps({ config: fullConfig, db, keys, events: localPublisher(log, config.local.webhookUrl), log });

    const app = buildBrokerApp(deps, ALL_GROUPS);
    // the operator console (CONTRACT.md): served by the broker itself in local mode
    app.route('/', consoleRoutes());
    const server = await listen(brokerRequestListener(app.fetch, cachedTokenLane(deps)), config.local.port);
    const port = (server.address() as AddressInfo).port;
    const url = `http://127.0.0.1:${port}`;

    const stopRefresher = options.refresher === false ? () => Promise.resolve() : startRefresherTimer(deps, config.refreshIntervalS);
    // repeat token reads are written as counts on a timer, and the last ones when the server stops
    const stopCounts = deps.readCounts.startTimer();
    let stopped = false;
    return {
      url,
      publicUrl: fullConfig.publicUrl,
      adminToken,
      adminTokenFile,
      deps,
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopRefresher();
        await new Promise<void>((res) => server.close(() => res()));
        await stopCounts().catch((err: unknown) => log.error('audit.counts_flush_failed', { err }));
        // a commit still retrying, a job continuing, queued webhook events: a few seconds to finish
        await deps.background.drain(5_000);
        await stopDdb();
      },
    };
  } catch (err) {
    await stopDdb();
    throw err;
  }
}

async function listen(listener: RequestListener, port: number): Promise<Server> {
  return new Promise((res, rej) => {
    const server = createServer(listener);
    server.once('error', (err: NodeJS.ErrnoException) =>
      rej(err.code === 'EADDRINUSE' ? new Error(`port ${port} is in use: stop the other process or set PORT to a free port`) : err),
    );
    server.listen(port, '127.0.0.1', () => res(server));
  });
}

/** Made once, kept in the data dir with mode 0600, like the key. */
async function loadOrCreateAdminToken(path: string): Promise<string> {
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (token.length >= 16) return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('base64url');
  await writeFile(path, token + '\n', { mode: 0o600 });
  await chmod(path, 0o600);
  return token;
}

/** Runs the refresher every `intervalS`; a run still going when the next is due is not doubled. */
function startRefresherTimer(deps: BrokerDeps, intervalS: number): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const tick = () => {
    if (running) return;
    running = runRefresher(deps, { deadline: deps.clock() + Math.max(30, intervalS) * 1000 })
      .catch((err) => deps.log.error('refresher.run_failed', { err }))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, intervalS * 1000);
  timer.unref();
  tick();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
