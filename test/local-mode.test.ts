import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../lib/log.js';
import { startLocalBroker, type LocalBroker } from '../local/local-broker.js';
import { startLongPortSimulator, type LongPortSimulator } from '../simulator/longport-simulator.js';
import { ScriptedBrowser } from '../simulator/scripted-browser.js';
import { dynamoEndpoint } from './support/dynamo.js';

/** `npm start`'s runtime (local/local-broker.ts) on a real port, against the run's DynamoDB Local. */
let broker: LocalBroker | undefined;
let sim: LongPortSimulator | undefined;
let dataDir: string;
afterEach(async () => {
  await broker?.stop();
  await sim?.close();
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
