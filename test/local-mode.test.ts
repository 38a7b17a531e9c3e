import { spawnSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { brokerEnv, startBrokerProcess, type BrokerProcess } from '../chaos/broker-process.js';
import { LOCK_FILE, type DataDirLockHolder } from '../local/data-dir-lock.js';
import { dynamoDbLocalsServing } from '../local/processes.js';
import { silentLogger } from '../lib/log.js';
import { startLocalBroker, type LocalBroker } from '../local/local-broker.js';
import { startLongPortSimulator, type LongPortSimulator } from '../simulator/longport-simulator.js';
import { ScriptedBrowser } from '../simulator/scripted-browser.js';
import { dynamoEndpoint } from './support/dynamo.js';

/** `npm start`'s runtime (local/local-broker.ts) on a real port, against the run's DynamoDB Local. */
let broker: LocalBroker | undefined;
let sim: LongPortSimulator | undefined;
let dataDir: string;
/** Broker processes a test started. */
let children: BrokerProcess[] = [];
afterEach(async () => {
  for (const child of children) await child.stop();
  children = [];
  await broker?.stop();
  broker = undefined;
  await sim?.close();
  sim = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

async function start(table: string) {
  broker = await startLocalBroker({
    env: { PORT: '0', BROKER_DATA_DIR: dataDir, LONGPORT_ISSUER: sim!.issuer, DYNAMODB_ENDPOINT: dynamoEndpoint(), BROKER_TABLE_NAME: table },
    log: silentLogger,
    refresher: false,
  });
  return broker;
}

describe('local mode', () => {
  it('makes the key file (0600) and the admin token once, serves the API, and after a restart still opens the tokens it sealed before', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lpb-local-'));
    sim = await startLongPortSimulator();
    const table = `local-${randomBytes(4).toString('hex')}`;
    const first = await start(table);
    const auth = { authorization: `Bearer ${first.adminToken}`, 'content-type': 'application/json' };
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    await fetch(`${first.url}/v1/tenants/acme`, { method: 'PUT', headers: auth, body: JSON.stringify({ region: 'global' }) });
    const link = (await (await fetch(`${first.url}/v1/tenants/acme/accounts/alice/link`, { method: 'POST', headers: auth, body: '{}' })).json()) as { link_url: string };
    const { callback } = await new ScriptedBrowser(() => (url, init) => fetch(url, { ...init, redirect: 'manual' })).completeLink(link.link_url);
    expect(callback.status).toBe(200);
    const keyBefore = await readFile(join(dataDir, 'local.key'), 'utf8');
    expect((await stat(join(dataDir, 'local.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, 'admin.token'))).mode & 0o777).toBe(0o600);
    await first.stop();

    const second = await start(table);
    const token = await fetch(`${second.url}/v1/tenants/acme/accounts/alice/token`, { headers: auth });

    expect(second.adminToken).toBe(first.adminToken);
    expect(await readFile(join(dataDir, 'local.key'), 'utf8')).toBe(keyBefore);
    expect(token.status).toBe(200);
    const { access_token } = (await token.json()) as { access_token: string };
    expect((await fetch(`${sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(200);
  });

  it('reads the bearer from the Authorization header however its name is spelt, and refuses two Authorization headers with 401', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lpb-local-'));
    sim = await startLongPortSimulator();
    const b = await start(`local-${randomBytes(4).toString('hex')}`);
    const bearer = `Bearer ${b.adminToken}`;
    // raw header lines, sent exactly as given (Host too: Node.js adds none to raw lines)
    const get = (headers: string[]) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${b.url}/v1/tenants`, { headers: ['Host', new URL(b.url).host, ...headers] }, (res) => resolve(res.resume().statusCode ?? 0));
        req.on('error', reject);
        req.end();
      });

    expect(await get(['Authorization', bearer])).toBe(200);
    expect(await get(['AUTHORIZATION', bearer])).toBe(200);
    expect(await get(['authorization', bearer, 'Authorization', bearer])).toBe(401);
    expect(await get(['Authorization', bearer, 'authorization', 'Bearer not-the-admin-token-0123456789'])).toBe(401);
  });

  it('answers every /v1 route 401 without the admin token', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lpb-local-'));
    sim = await startLongPortSimulator();
    const b = await start(`local-${randomBytes(4).toString('hex')}`);

    const res = await fetch(`${b.url}/v1/tenants/acme`);

    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'unauthorized' });
  });
});

describe('npm start without Java', () => {
  it('stops with one clear message saying what to install', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lpb-nojava-'));
    const { spawnSync } = await import('node:child_process');
    const { mkdir, symlink } = await import('node:fs/promises');
    // a PATH with node and nothing else: no java
    const bin = join(dataDir, 'bin');
    await mkdir(bin);
    await symlink(process.execPath, join(bin, 'node'));

    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bin/local.ts'], {
      env: { PATH: bin, HOME: dataDir, BROKER_DATA_DIR: dataDir, PORT: '0', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      encoding: 'utf8',
      timeout: 30_000,
    });

    expect(run.status).toBe(1);
    expect(run.stderr).toContain('DynamoDB Local needs Java 17 or newer');
    expect(run.stderr).toContain('apt-get install -y openjdk-17-jre-headless');
    expect(run.stderr).not.toMatch(/at .+\.ts:\d+/); // no stack trace
  });
});

/** Every file and directory under `dir`, with its mode bits. */
async function modes(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const name = `${prefix}${entry.name}`;
    out[name] = ((await stat(path)).mode & 0o777).toString(8);
    if (entry.isDirectory()) Object.assign(out, await modes(path, `${name}/`));
  }
  return out;
}

/** The processes whose command line runs DynamoDB Local on `dbPath`, by `ps`. */
async function dynamoDbLocalsOn(dbPath: string): Promise<number[]> {
  return dynamoDbLocalsServing(dbPath);
}

/** Polls `condition` until it holds (a condition, not a duration, is what the test asserts). */
async function eventually(condition: () => Promise<boolean>, what: string, limitMs = 20_000): Promise<void> {
  for (const start = Date.now(); !(await condition()); await sleep(100)) {
    if (Date.now() - start > limitMs) throw new Error(`never came true: ${what}`);
  }
}

/** A fresh data directory and simulator for a broker that runs its own DynamoDB Local (no DYNAMODB_ENDPOINT). */
async function ownDynamoDbLocal(prefix: string) {
  dataDir = await mkdtemp(join(tmpdir(), prefix));
  sim = await startLongPortSimulator();
  return { dbPath: join(dataDir, 'dynamodb'), env: { PORT: '0', BROKER_DATA_DIR: dataDir, LONGPORT_ISSUER: sim.issuer } };
}

const readLock = async (dbPath: string): Promise<DataDirLockHolder> => JSON.parse(await readFile(join(dbPath, LOCK_FILE), 'utf8')) as DataDirLockHolder;

describe('local data files are readable by their owner only', () => {
  it('the data directory is 0700 and every local data file — DynamoDB Local’s, local.key, admin.token — is 0600, also in a data directory an older broker left readable', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lpb-modes-'));
    sim = await startLongPortSimulator();
    // what an older broker left: a 0755 directory, a 0644 admin token, a 0644 DynamoDB file
    await chmod(dataDir, 0o755);
    await writeFile(join(dataDir, 'admin.token'), `${randomBytes(32).toString('base64url')}\n`, { mode: 0o644 });
    await mkdir(join(dataDir, 'dynamodb'), { mode: 0o755 });
    await writeFile(join(dataDir, 'dynamodb', 'left-over.db'), '', { mode: 0o644 });
    broker = await startLocalBroker({ env: { PORT: '0', BROKER_DATA_DIR: dataDir, LONGPORT_ISSUER: sim.issuer }, log: silentLogger, refresher: false });
    const auth = { authorization: `Bearer ${broker.adminToken}`, 'content-type': 'application/json' };
    await fetch(`${broker.url}/v1/tenants/acme`, { method: 'PUT', headers: auth, body: JSON.stringify({ region: 'global' }) });

    const running = await modes(dataDir);
    await broker.stop();
    const stopped = await modes(dataDir);

    for (const found of [running, stopped]) {
      expect(found).toMatchObject({ 'local.key': '600', 'admin.token': '600', dynamodb: '700', 'dynamodb/shared-local-instance.db': '600', 'dynamodb/left-over.db': '600' });
      for (const [name, mode] of Object.entries(found)) expect([name, mode]).toEqual([name, name === 'dynamodb' ? '700' : '600']);
    }
    expect(running['dynamodb/lock.json']).toBe('600');
    expect(((await stat(dataDir)).mode & 0o777).toString(8)).toBe('700');
  }, 90_000);
});

describe('one DynamoDB Local per data directory, never left running on its own', () => {
  it('a crash of the broker, even kill -9, leaves no DynamoDB Local running on its own, and a restart on the same data directory works with the data kept', async () => {
    const { dbPath, env } = await ownDynamoDbLocal('lpb-crash-');
    const first = await startBrokerProcess({ env });
    children.push(first);
    const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    expect((await fetch(`${first.url}/v1/tenants/acme`, { method: 'PUT', headers: auth, body: JSON.stringify({ region: 'global' }) })).status).toBe(201);
    const lock = await readLock(dbPath);
    expect(lock.pid).toBe(first.pid);
    expect(await dynamoDbLocalsOn(dbPath)).toEqual([lock.dynamodb!.pid]);

    await first.crash();
    await eventually(async () => (await dynamoDbLocalsOn(dbPath)).length === 0, 'no DynamoDB Local serves the data directory after kill -9 of the broker');
    const second = await startBrokerProcess({ env });
    children.push(second);
    const tenant = await fetch(`${second.url}/v1/tenants/acme`, { headers: auth });

    expect(tenant.status).toBe(200);
    const served = await dynamoDbLocalsOn(dbPath);
    expect(served).toHaveLength(1);
    expect(served).not.toContain(lock.dynamodb!.pid);
    expect((await readLock(dbPath)).pid).toBe(second.pid);
  }, 120_000);

  it('a DynamoDB Local left serving a data directory with no live broker (its guardian killed too) is stopped by the next start, so one serves it', async () => {
    const { dbPath, env } = await ownDynamoDbLocal('lpb-orphan-');
    const first = await startBrokerProcess({ env, ownGroup: true });
    children.push(first);
    const orphan = (await readLock(dbPath)).dynamodb!.pid;
    // the broker and its guardian die together (their process group); the JVM has a group of its own
    process.kill(-first.pid, 'SIGKILL');
    await first.exited;
    await sleep(500);
    expect(await dynamoDbLocalsOn(dbPath)).toEqual([orphan]);

    const second = await startBrokerProcess({ env });
    children.push(second);

    expect(await dynamoDbLocalsOn(dbPath)).toEqual([(await readLock(dbPath)).dynamodb!.pid]);
    expect(await dynamoDbLocalsOn(dbPath)).not.toContain(orphan);
    expect(second.output()).toContain(`stopped a DynamoDB Local left serving`);
    expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
  }, 120_000);

  it('one data directory is served by one DynamoDB Local at a time: a second broker on it is refused, naming the live process', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lpb-twice-'));
    sim = await startLongPortSimulator();
    const dbPath = join(dataDir, 'dynamodb');
    broker = await startLocalBroker({ env: { PORT: '0', BROKER_DATA_DIR: dataDir, LONGPORT_ISSUER: sim.issuer }, log: silentLogger, refresher: false });
    const serving = await dynamoDbLocalsOn(dbPath);

    const second = spawnSync(process.execPath, ['--import', 'tsx', 'bin/local.ts'], {
      env: brokerEnv({ PORT: '0', BROKER_DATA_DIR: dataDir, LONGPORT_ISSUER: sim.issuer }),
      encoding: 'utf8',
      timeout: 60_000,
    });

    expect(second.status).toBe(1);
    expect(second.stderr).toContain(`is in use by process ${process.pid}`);
    expect(second.stderr).toContain(`process ${serving[0]}`);
    expect(second.stderr).not.toMatch(/at .+\.ts:\d+/);
    expect(await dynamoDbLocalsOn(dbPath)).toEqual(serving);
    expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
  }, 120_000);
});

describe('the start banner', () => {
  it('npm start names the admin token’s file and at most its first few characters, never the whole token', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lpb-banner-'));
    const started = await startBrokerProcess({ via: 'npm', env: { PORT: '0', BROKER_DATA_DIR: dataDir, DYNAMODB_ENDPOINT: dynamoEndpoint(), BROKER_TABLE_NAME: `banner-${randomBytes(4).toString('hex')}` } });
    children.push(started);
    const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();

    await started.stop();
    const printed = started.output();

    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(printed).toContain(`admin token: ${token.slice(0, 4)}… in ${join(dataDir, 'admin.token')}`);
    // no run of more than 4 of its characters, anywhere in what npm start printed
    for (let i = 0; i + 5 <= token.length; i++) expect(printed).not.toContain(token.slice(i, i + 5));
  }, 90_000);

  it("on a Node.js older than 22, npm start says in one line that later AWS SDK releases need Node.js 22, in place of the SDK's own warning", async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lpb-banner-node-'));
    // as a user's environment: the SDK's warning is not switched off
    const started = await startBrokerProcess({
      via: 'npm',
      env: { PORT: '0', BROKER_DATA_DIR: dataDir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '', DYNAMODB_ENDPOINT: dynamoEndpoint(), BROKER_TABLE_NAME: `banner-${randomBytes(4).toString('hex')}` },
    });
    children.push(started);

    await started.stop();
    const printed = started.output();

    const notice = `! Node.js ${process.versions.node} runs local mode; AWS SDK releases after the first week of January 2027 need Node.js 22 or newer`;
    if (Number(process.versions.node.split('.')[0]) < 22) expect(printed).toContain(notice);
    else expect(printed).not.toContain(notice);
    expect(printed).not.toContain('NodeVersionSupportWarning');
  }, 90_000);

  it('npm start never prints an admin token that came from the environment', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'lpb-banner-env-'));
    const fromEnv = `env-${randomBytes(24).toString('base64url')}`;
    const started = await startBrokerProcess({
      via: 'npm',
      env: { PORT: '0', BROKER_DATA_DIR: dataDir, BROKER_ADMIN_TOKEN: fromEnv, DYNAMODB_ENDPOINT: dynamoEndpoint(), BROKER_TABLE_NAME: `banner-${randomBytes(4).toString('hex')}` },
    });
    children.push(started);
    const health = await fetch(`${started.url}/v1/tenants/acme`, { headers: { authorization: `Bearer ${fromEnv}` } });

    await started.stop();
    const printed = started.output();

    // the token works: it is the one in use, just not shown
    expect(health.status).toBe(404);
    expect(printed).toContain('admin token: from BROKER_ADMIN_TOKEN (not shown)');
    expect(printed).not.toContain(fromEnv.slice(4, 12));
    expect(await readdir(dataDir)).not.toContain('admin.token');
  }, 90_000);
});
