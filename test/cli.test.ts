/**
 * The CLI against a real broker (DynamoDB Local, the LongPort simulator): each command in both
 * output modes, and the exit codes scripts branch on. Most runs go through `run()` in-process with
 * captured output; the installed bin is run as a real process too.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EXIT } from '../cli/exit-codes.js';
import type { Io } from '../cli/output.js';
import { run } from '../cli/program.js';
import { ScriptedBrowser } from '../simulator/scripted-browser.js';
import { FLEET, seedFleet, startConsoleBroker, type ConsoleBroker } from './support/console-broker.js';
import { ADMIN_TOKEN } from './support/harness.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let b: ConsoleBroker;
/** Whether this broker writes token fingerprints into its trail yet (CONTRACT.md, "Audit trail"). */
let hasFingerprints: boolean;

beforeAll(async () => {
  b = await startConsoleBroker();
  await seedFleet(b);
  await b.admin('GET', '/v1/tenants/globex/accounts/grace/token');
  const trail = (await (await b.admin('GET', '/v1/tenants/globex/audit?limit=200')).json()) as { events: { token_fingerprint?: string }[] };
  hasFingerprints = trail.events.some((e) => typeof e.token_fingerprint === 'string');
}, 120_000);
afterAll(async () => {
  await b?.close();
});

interface Ran {
  code: number;
  out: string;
  err: string;
}

/** The CLI in-process, as `longport-token-broker --url <broker> …` with BROKER_ADMIN_TOKEN set. */
async function cli(args: string[], options: { env?: Record<string, string>; stdin?: string; tty?: boolean } = {}): Promise<Ran> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t), outIsTty: options.tty ?? false, errIsTty: false };
  const code = await run(['--url', b.url, ...args], io, { BROKER_ADMIN_TOKEN: ADMIN_TOKEN, ...options.env }, async () => options.stdin ?? '');
  return { code, out, err };
}

const parsed = <T>(ran: Ran): T => {
  expect(ran.code, ran.err).toBe(EXIT.ok);
  return JSON.parse(ran.out) as T;
};

describe('the CLI as an installed bin', () => {
  it('`npx longport-token-broker --help` lists every command and the exit codes', async () => {
    const ran = await spawnCli(['--help']);

    expect(ran.code).toBe(0);
    for (const command of ['tenants', 'accounts', 'link', 'token', 'refresh', 'unlink', 'audit']) expect(ran.out).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(ran.out).toContain('Exit codes:');
  });

  it('a real process reads its key from BROKER_ADMIN_TOKEN and exits 0; with no credential at all it exits 3 and says where to put one', async () => {
    const ok = await spawnCli(['--url', b.url, 'tenants', 'get', 'acme'], { BROKER_ADMIN_TOKEN: ADMIN_TOKEN });
    const none = await spawnCli(['--url', b.url, 'tenants', 'get', 'acme'], { BROKER_DATA_DIR: '/nonexistent' });

    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/^tenant\s+acme$/m);
    expect(none.code).toBe(EXIT.auth);
    expect(none.err).toContain('BROKER_ADMIN_TOKEN');
  });
});

describe('tenants', () => {
  it('tenants put registers (then updates) a tenant: a sentence for people, the tenant as JSON for scripts', async () => {
    const human = await cli(['tenants', 'put', 'umbrella', '--region', 'global', '--return-to-origin', 'https://app.umbrella.example']);
    const again = parsed<{ created: boolean; tenant: string; client_id: string }>(await cli(['--json', 'tenants', 'put', 'umbrella', '--region', 'global']));

    expect(human.code, human.err).toBe(EXIT.ok);
    expect(human.out).toMatch(/^registered umbrella: public client \S+ in global$/m);
    expect(again).toMatchObject({ created: false, tenant: 'umbrella' });
    expect(again.client_id).toMatch(/\S/);
  });

  it('tenants get shows settings and client, never a secret, in both modes', async () => {
    const human = await cli(['tenants', 'get', 'acme']);
    const machine = parsed<Record<string, unknown>>(await cli(['tenants', 'get', 'acme', '--json']));

    expect(human.out).toMatch(/^region\s+global$/m);
    expect(human.out).toMatch(/^redirect_uri\s+http:\/\/localhost:\d+\/oauth\/callback$/m);
    expect(machine).toMatchObject({ tenant: 'acme', region: 'global', client_type: 'public' });
    expect(JSON.stringify(machine)).not.toMatch(/secret/i);
  });

  it('tenants list shows every tenant with its counts (GET /v1/tenants), as a table and as JSON', async () => {
    const human = await cli(['tenants', 'list']);
    const machine = parsed<{ tenants: { tenant: string; accounts: { linked: number; needs_reauth: number } }[] }>(await cli(['tenants', 'list', '--json']));
    expect(human.code, human.err).toBe(EXIT.ok);
    expect(human.out).toMatch(/^TENANT\s+REGION\s+CLIENT\s+LINKED\s+NEEDS_REAUTH\s+STATE$/m);
    expect(human.out).toMatch(new RegExp(`^acme\\s+global\\s+public\\s+${FLEET.linked.length}\\s+${FLEET.stranded.length}\\s+active$`, 'm'));
    expect(machine.tenants.find((t) => t.tenant === 'acme')?.accounts).toEqual({ linked: FLEET.linked.length, needs_reauth: FLEET.stranded.length });
  });
});

describe('accounts, links, tokens', () => {
  it('accounts list: a table with status, expiry and renewal; --status filters; --json answers the accounts', async () => {
    const human = await cli(['accounts', 'list', 'acme']);
    const stranded = await cli(['accounts', 'list', 'acme', '--status', 'needs_reauth']);
    const machine = parsed<{ accounts: { account: string; status: string }[] }>(await cli(['--json', 'accounts', 'list', 'acme']));

    expect(human.out).toMatch(/^ACCOUNT\s+STATUS\s+EXPIRES\s+RENEWS_AROUND\s+REFRESHED\s+LINKED$/m);
    expect(human.out).toMatch(/^user-20\s+linked\s+in 5\d min\s+in 4\d min\s+/m);
    expect(human.out).toMatch(/^dave\s+needs_reauth\s+-\s+-\s+/m);
    expect(stranded.out.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0])).toEqual([...FLEET.stranded]);
    expect(machine.accounts).toHaveLength(FLEET.linked.length + FLEET.stranded.length);
  });

  it('link create prints the URL (and a QR code on a terminal); the link links the account through LongPort', async () => {
    const onTerminal = await cli(['link', 'create', 'globex', 'ivan'], { tty: true });
    const piped = await cli(['link', 'create', 'globex', 'ivan']);
    const machine = parsed<{ link_url: string; expires_at: string }>(await cli(['--json', 'link', 'create', 'globex', 'ivan']));

    const url = onTerminal.out.split('\n')[0]!;
    expect(url).toMatch(new RegExp(`^${b.url}/oauth/authorize\\?link=`));
    expect(onTerminal.out).toMatch(/[▀▄█]/);
    expect(onTerminal.err).toContain('single-use');
    expect(piped.out.trim().split('\n')).toHaveLength(1);
    expect(machine.link_url).toMatch(/\/oauth\/authorize\?link=/);
    const browser = new ScriptedBrowser(() => (u, init) => fetch(u, { ...init, redirect: 'manual' }));
    const { callback } = await browser.completeLink(machine.link_url);
    expect(callback.status).toBe(200);
    expect(parsed<{ accounts: { account: string }[] }>(await cli(['--json', 'accounts', 'list', 'globex'])).accounts.map((a) => a.account)).toContain('ivan');
  });

  it('token get prints the token alone (for $(…)), or the whole answer with --json; the token works at LongPort', async () => {
    const human = await cli(['token', 'get', 'globex', 'grace', '--min-ttl', '120']);
    const machine = parsed<{ access_token: string; expires_in: number; token_type: string }>(await cli(['--json', 'token', 'get', 'globex', 'grace']));

    expect(human.code).toBe(EXIT.ok);
    expect(human.out).toMatch(/^\S+\n$/);
    expect(human.err).toMatch(/^expires in \d+ s/);
    expect(machine.access_token).toBe(human.out.trim());
    expect(machine.token_type).toBe('Bearer');
    const api = await fetch(`${b.h.sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${human.out.trim()}` } });
    expect(api.status).toBe(200);
  });

  it('refresh renews now and says when the new token expires, showing the token only with --json', async () => {
    const before = (await cli(['token', 'get', 'globex', 'heidi'])).out.trim();
    b.h.clock.advance(15_000); // past the broker's 10 s coalescing window
    const human = await cli(['refresh', 'globex', 'heidi']);
    b.h.clock.advance(15_000);
    const machine = parsed<{ access_token: string }>(await cli(['--json', 'refresh', 'globex', 'heidi']));

    expect(human.out).toMatch(/^refreshed globex\/heidi: the token expires in \d+ s/);
    expect(human.out).not.toContain(before);
    expect(machine.access_token).not.toBe(before);
  });

  it('unlink needs --yes without a terminal (exit 2, nothing sent), then unlinks; unlinking again exits 4', async () => {
    await b.linkAccount('globex', 'judy');
    const unconfirmed = await cli(['unlink', 'globex', 'judy']);
    const human = await cli(['unlink', 'globex', 'judy', '--yes']);
    const again = await cli(['--json', 'unlink', 'globex', 'judy', '--yes']);

    expect(unconfirmed.code).toBe(EXIT.usage);
    expect(unconfirmed.err).toContain('--yes');
    expect(human.code, human.err).toBe(EXIT.ok);
    expect(human.out).toBe('unlinked globex/judy\n');
    expect(again.code).toBe(EXIT.notFound);
  });
});

describe('audit', () => {
  it('audit: newest first as a table, or as JSON events', async () => {
    const human = await cli(['audit', 'acme', '--limit', '10']);
    const machine = parsed<{ events: { at: string; action: string }[] }>(await cli(['--json', 'audit', 'acme', '--limit', '10']));

    expect(human.out).toMatch(/^AT\s+ACTION\s+ACCOUNT\s+CALLER\s+OUTCOME/m);
    expect(machine.events.length).toBeGreaterThan(1);
    const times = machine.events.map((e) => Date.parse(e.at));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
  });

  it('audit --token-stdin filters by the fingerprint of a leaked token computed locally: only the fingerprint is sent', async () => {
    const token = (await cli(['token', 'get', 'globex', 'grace'])).out.trim();
    const fingerprint = createHash('sha256').update(token).digest('hex').slice(0, 16);
    const sent: string[] = [];
    const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async function (this: unknown, input, init) {
      sent.push(String(input) + JSON.stringify(init ?? {}));
      spy.mockRestore();
      return globalThis.fetch(input, init);
    });

    const ran = await cli(['--json', 'audit', 'globex', '--token-stdin'], { stdin: `${token}\n` });

    expect(ran.code, ran.err).toBe(EXIT.ok);
    expect(sent).toHaveLength(1);
    expect(new URL(sent[0]!.slice(0, sent[0]!.indexOf('{'))).searchParams.get('token_fingerprint')).toBe(fingerprint);
    expect(sent[0]).not.toContain(token);
    const { events } = JSON.parse(ran.out) as { events: { token_fingerprint?: string }[] };
    // every event shown is of that token (a broker without the filter shows none rather than all)
    expect(events.every((e) => e.token_fingerprint === fingerprint)).toBe(true);
    if (hasFingerprints) expect(events.length).toBeGreaterThan(0);
  });

  it('audit --follow prints new events as they are written, one JSON object a line, until interrupted', async () => {
    let out = '';
    const io: Io = { out: (t) => void (out += t), err: () => {}, outIsTty: false, errIsTty: false };
    const following = run(['--url', b.url, '--json', 'audit', 'globex', '--follow', '--interval', '1', '--limit', '5'], io, { BROKER_ADMIN_TOKEN: ADMIN_TOKEN }, async () => '');
    await vi.waitFor(() => expect(out.trim().split('\n').length).toBeGreaterThanOrEqual(1), { timeout: 10_000 });
    const before = out.trim().split('\n').length;

    // later than every event so far (an earlier test moved the broker's clock ahead of the real one)
    b.h.clock.set(Math.max(Date.now(), b.h.clock()) + 1000);
    expect((await b.admin('POST', '/v1/tenants/globex/accounts/kate/link', {})).status).toBe(201);
    await vi.waitFor(() => expect(out).toMatch(/"action":\s*"link.create"[^\n]*"account":\s*"kate"|"account":\s*"kate"[^\n]*"action":\s*"link.create"/), { timeout: 10_000 });
    process.emit('SIGINT');

    expect(await following).toBe(EXIT.ok);
    const lines = out.trim().split('\n');
    expect(lines.length).toBeGreaterThan(before);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(new Set(lines).size).toBe(lines.length);
  });
});

describe('exit codes', () => {
  it('2 usage (bad id, nothing sent) · 3 refused key · 4 unknown tenant · 5 reauth_required · 6 no broker', async () => {
    const usage = await cli(['token', 'get', 'acme', '../x']);
    const refused = await cli(['tenants', 'get', 'acme'], { env: { BROKER_ADMIN_TOKEN: 'not-the-key-0000000000000' } });
    const unknown = await cli(['tenants', 'get', 'nope']);
    const reauth = await cli(['token', 'get', 'acme', 'dave']);
    let noBroker: Ran;
    {
      let err = '';
      const io: Io = { out: () => {}, err: (t) => void (err += t), outIsTty: false, errIsTty: false };
      const code = await run(['--url', 'http://127.0.0.1:9', 'tenants', 'get', 'acme'], io, { BROKER_ADMIN_TOKEN: ADMIN_TOKEN }, async () => '');
      noBroker = { code, out: '', err };
    }

    expect(usage.code).toBe(EXIT.usage);
    expect(refused.code).toBe(EXIT.auth);
    expect(refused.err).toContain('credentials were refused');
    expect(refused.err).not.toContain('not-the-key');
    expect(unknown.code).toBe(EXIT.notFound);
    expect(reauth.code).toBe(EXIT.conflict);
    expect(reauth.err).toContain('link create');
    expect(noBroker.code).toBe(EXIT.unavailable);
    expect(noBroker.err).toContain('is the broker running');
  });
});

function spawnCli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const proc = spawn('npx', ['--no-install', 'longport-token-broker', ...args], { cwd: ROOT, env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => proc.on('close', (code) => resolve({ code: code ?? -1, out, err })));
}
