import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { keyFingerprint } from '../lib/broker/callers.js';
import { accessLog, UNAUTHENTICATED_LINES_PER_S } from '../lib/http/access-log.js';
import type { AppEnv } from '../lib/http/app-env.js';
import { batchedSink, createLogger } from '../lib/log.js';
import { api, linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';

const SERVICE_KEY = 'service-key-of-acme-0123456789abcdef';
const API_KEYS = JSON.stringify({ [SERVICE_KEY]: { tenants: ['acme'], role: 'service' } });

let h: Harness;
afterEach(async () => h?.close());

const accessLines = (logs: string[]) => logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'http.access');

describe('the access log', () => {
  it('one http.access line per /v1 request: method, route template, status, duration, tenant, account, caller label; never a header, query or body', async () => {
    h = await startHarness({ env: { BROKER_API_KEYS: API_KEYS } });
    await linkAccount(h, 'acme', 'alice');
    h.logs.length = 0;

    const token = (await (await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token?min_ttl=120', undefined, { authorization: `Bearer ${SERVICE_KEY}` })).json()) as { access_token: string };
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', return_to_origins: ['https://secret-origin.example'] });
    await api(h, 'GET', '/v1/tenants/acme/accounts/nobody');

    const lines = accessLines(h.logs);
    expect(lines.map((l) => [l.method, l.route, l.status])).toEqual([
      ['GET', 'GET /v1/tenants/{tenant}/accounts/{account}/token', 200],
      ['PUT', 'PUT /v1/tenants/{tenant}', 200],
      ['GET', 'GET /v1/tenants/{tenant}/accounts/{account}', 404],
    ]);
    expect(lines[0]).toMatchObject({ tenant: 'acme', account: 'alice', caller: `key:${keyFingerprint(SERVICE_KEY)}`, cache: 'miss', generation: expect.any(Number), durationMs: expect.any(Number) });
    const text = JSON.stringify(lines);
    for (const secret of [token.access_token, SERVICE_KEY, 'min_ttl', 'secret-origin', 'authorization']) expect(text).not.toContain(secret);
  });

  it('requests without valid credentials are logged at most 10 lines a second, counting what was left out', async () => {
    const logs: string[] = [];
    let now = 5_000;
    const app = new Hono<AppEnv>();
    app.use('/v1/*', accessLog(createLogger({ sink: (l) => logs.push(l) }), () => now));
    app.get('/v1/*', (c) => c.json({ error: 'unauthorized' }, 401));

    for (let i = 0; i < 25; i++) await app.request('http://x/v1/tenants/acme/accounts/a/token');
    const inFirstSecond = accessLines(logs).length;
    now += 1_000;
    await app.request('http://x/v1/tenants/acme/accounts/a/token');

    expect(inFirstSecond).toBe(UNAUTHENTICATED_LINES_PER_S);
    expect(accessLines(logs).at(-1)).toMatchObject({ status: 401, suppressedSinceLast: 15 });
    expect(accessLines(logs)).toHaveLength(UNAUTHENTICATED_LINES_PER_S + 1);
  });

  it('a request with no or unknown credentials writes nothing durable', async () => {
    h = await startHarness();
    await linkAccount(h, 'acme', 'alice');
    const items = async () => ((await h.db.doc.send(new ScanCommand({ TableName: h.db.table, ConsistentRead: true }))).Items ?? []).length;
    const before = await items();

    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        api(h, i % 4 === 0 ? 'DELETE' : 'GET', i % 2 ? '/v1/tenants/acme/accounts/alice/token' : '/v1/tenants/acme/audit', undefined, i % 3 ? {} : { authorization: 'Bearer not-a-key-of-this-broker-0123456789' }),
      ),
    );
    await h.deps.readCounts.flush();

    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([401]));
    expect(await items()).toBe(before);
  });
});

describe('the local server’s log sink (batchedSink)', () => {
  it('the lines of one turn of the event loop go out in one write, in order, before the next turn', async () => {
    const writes: string[] = [];
    const sink = batchedSink((chunk) => writes.push(chunk));
    sink('{"n":1}');
    sink('{"n":2}');
    sink('{"n":3}');
    expect(writes).toEqual([]);

    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n{"n":3}\n']);
    sink('{"n":4}');
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual(['{"n":1}\n{"n":2}\n{"n":3}\n', '{"n":4}\n']);
  });

  it('lines still queued when the process exits are written', async () => {
    const script = `import { batchedSink } from ${JSON.stringify(new URL('../lib/log.ts', import.meta.url).pathname)}; const sink = batchedSink((c) => process.stdout.write(c)); sink('first'); sink('last'); process.exit(0);`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(stdout).toBe('first\nlast\n');
  });
});
