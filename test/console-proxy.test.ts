/**
 * `npm run console` as a real process: the loopback server in front of an API in AWS. A fake
 * upstream stands in for API Gateway and checks each request's SigV4 signature with an independent
 * computation, using fixed test credentials handed to the process through the environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { regionOfApiUrl } from '../client/auth.js';
import { launchChromium } from './support/chromium.js';
import { expectedSignature } from './support/sigv4.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIDCONSOLETEST', AWS_SECRET_ACCESS_KEY: 'console-test-secret-key/0123456789abcdef', AWS_SESSION_TOKEN: 'console-test-session-token' };
const REGION = 'eu-west-1';

interface Received {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string;
}

let upstream: Server;
let upstreamUrl: string;
let received: Received[];
let child: ChildProcess;
let signInUrl: URL;
let port: number;
/** Scripted failures of the fake API, taken one per request to that path. */
let failures: Record<string, { status: number; headers: Record<string, string>; body: unknown }[]>;

/** A raw HTTP request, so that the Host header is ours to choose. */
function raw(path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: { host: `127.0.0.1:${port}`, ...options.headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    if (options.body) req.write(options.body);
    req.end();
  });
}

/** Starts `bin/console.ts` and answers its child process and the sign-in URL it printed. */
function startConsoleProcess(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: URL }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bin/console.ts', ...args], {
    cwd: ROOT,
    // only the fixed test credentials: no profile, no config file, no instance metadata
    env: { PATH: process.env.PATH!, HOME: '/nonexistent', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true', ...CREDENTIALS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/login\?secret=[A-Za-z0-9_-]+)/.exec(out);
      if (m) resolve({ child: proc, url: new URL(m[1]!) });
    });
    proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    proc.on('exit', (code) => reject(new Error(`console exited ${code}: ${out}${err}`)));
  });
}

/** Signs in as the operator's browser would: the printed URL, once; answers the session cookie. */
async function signIn(): Promise<string> {
  const res = await raw(signInUrl.pathname + signInUrl.search);
  expect(res.status).toBe(303);
  return String(res.headers['set-cookie']![0]!.split(';')[0]);
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      received.push({ method: req.method!, url: new URL(req.url!, `http://${req.headers.host}`), headers, body });
      const path = new URL(req.url!, 'http://x').pathname;
      const failure = failures[path]?.shift();
      if (failure) {
        res.writeHead(failure.status, { 'content-type': 'application/json', ...failure.headers });
        return res.end(JSON.stringify(failure.body));
      }
      const answer = path === '/prod/v1/tenants' ? { tenants: [{ tenant: 'acme', region: 'global', client_type: 'public', accounts: { linked: 12, needs_reauth: 2 }, state: 'active' }] } : { tenant: 'acme', region: 'global' };
      res.writeHead(path.endsWith('/busy') ? 503 : 200, { 'content-type': 'application/json', 'set-cookie': 'upstream=1', 'x-amzn-requestid': 'abc', ...(path.endsWith('/busy') ? { 'retry-after': '7' } : {}) });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/prod`;
  const started = await startConsoleProcess(['--url', upstreamUrl, '--region', REGION]);
  child = started.child;
  signInUrl = started.url;
  port = Number(signInUrl.port);
});

afterAll(async () => {
  child?.kill('SIGTERM');
  await new Promise<void>((resolve) => upstream?.close(() => resolve()));
});

beforeEach(() => {
  received = [];
  failures = {};
});

describe('npm run console: the loopback proxy for AWS', () => {
  it('nothing is served before the one-time secret was exchanged for the session cookie', async () => {
    for (const path of ['/', '/console', '/console/app.js', '/v1/tenants']) {
      const res = await raw(path, { headers: { 'x-lpb-console': '1' } });
      expect(res.status, path).toBe(401);
      expect(res.body).toContain('npm run console');
    }
    expect(received).toEqual([]);
  });

  it('a wrong or missing secret is refused and sets no cookie', async () => {
    for (const path of ['/login', '/login?secret=', `/login?secret=${signInUrl.searchParams.get('secret')!.slice(1)}x`]) {
      const res = await raw(path);
      expect(res.status, path).toBe(403);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
  });

  it('a request whose Host is not this server\'s own is refused (DNS rebinding), even with the secret', async () => {
    const res = await raw(signInUrl.pathname + signInUrl.search, { headers: { host: `attacker.example:${port}` } });
    const other = await raw('/console', { headers: { host: `127.0.0.1:${port + 1}` } });

    expect(res.status).toBe(403);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(other.status).toBe(403);
  });

  it('the one-time secret works once, for an HttpOnly SameSite=Strict cookie and a redirect to a clean URL; the console it serves asks for no token', async () => {
    const first = await raw(signInUrl.pathname + signInUrl.search);
    const again = await raw(signInUrl.pathname + signInUrl.search);

    expect(first.status).toBe(303);
    expect(first.headers.location).toBe('/console');
    const cookie = first.headers['set-cookie']![0]!;
    expect(cookie).toMatch(new RegExp(`^lpb_console_${port}=[A-Za-z0-9_-]{43};`));
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(again.status).toBe(403);
    expect(again.body).toContain('already used');
    const page = await raw('/console', { headers: { cookie: cookie.split(';')[0]! } });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<meta name="lpb-console-mode" content="proxy">');
    expect(page.headers['content-security-policy']).toContain("connect-src 'self'");
  });
});

describe('npm run console: signed forwarding', () => {
  let cookie: string;
  beforeAll(async () => {
    // each test above used up the secret; this process gets its own
    child.kill('SIGTERM');
    const started = await startConsoleProcess(['--url', upstreamUrl, '--region', REGION]);
    child = started.child;
    signInUrl = started.url;
    port = Number(signInUrl.port);
    cookie = await signIn();
  });

  it('a forwarded call is signed for execute-api in the given region and passes SigV4 verification, body included', async () => {
    const body = JSON.stringify({ region: 'global', return_to_origins: ['https://app.acme.example'] });

    const res = await raw('/v1/tenants/acme?x=1', { method: 'PUT', body, headers: { cookie, 'x-lpb-console': '1', 'content-type': 'application/json', origin: `http://127.0.0.1:${port}` } });

    expect(res.status).toBe(200);
    expect(received).toHaveLength(1);
    const got = received[0]!;
    expect(got.method).toBe('PUT');
    expect(got.url.pathname).toBe('/prod/v1/tenants/acme');
    expect(got.url.searchParams.get('x')).toBe('1');
    expect(got.body).toBe(body);
    const authorization = got.headers.authorization!;
    expect(authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${CREDENTIALS.AWS_ACCESS_KEY_ID}/\\d{8}/${REGION}/execute-api/aws4_request, SignedHeaders=`));
    expect(got.headers['x-amz-security-token']).toBe(CREDENTIALS.AWS_SESSION_TOKEN);
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)![1]!.split(';');
    expect(signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token']));
    expect(/Signature=([0-9a-f]{64})$/.exec(authorization)![1]).toBe(expectedSignature(got, signedHeaders, CREDENTIALS.AWS_SECRET_ACCESS_KEY, REGION));
    // a signature for another region or a changed body would not verify
    expect(expectedSignature(got, signedHeaders, CREDENTIALS.AWS_SECRET_ACCESS_KEY, 'us-east-1')).not.toBe(/Signature=([0-9a-f]{64})$/.exec(authorization)![1]);
    expect(expectedSignature({ ...got, body: body + ' ' }, signedHeaders, CREDENTIALS.AWS_SECRET_ACCESS_KEY, REGION)).not.toBe(/Signature=([0-9a-f]{64})$/.exec(authorization)![1]);
    // nothing of the browser's request reaches AWS but what was signed, and nothing of AWS's answer but the contract's headers comes back
    expect(got.headers.cookie).toBeUndefined();
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers['x-amzn-requestid']).toBeUndefined();
  });

  it("a 503 from the API keeps its Retry-After on the way back", async () => {
    const res = await raw('/v1/tenants/acme/busy', { headers: { cookie, 'x-lpb-console': '1' } });

    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('7');
  });

  it("an API call without the console's header, or from another origin, is refused: another local page cannot drive it", async () => {
    const noHeader = await raw('/v1/tenants', { headers: { cookie } });
    const otherOrigin = await raw('/v1/tenants', { headers: { cookie, 'x-lpb-console': '1', origin: 'http://127.0.0.1:1' } });

    expect(noHeader.status).toBe(403);
    expect(otherOrigin.status).toBe(403);
    expect(received).toEqual([]);
  });

  it('in Chromium, the console behind it asks for no token, lists the tenants from the signed API, and loads nothing from elsewhere', async () => {
    const browser = await launchChromium();
    try {
      const page = await (await browser.newContext()).newPage();
      const urls: string[] = [];
      const errors: string[] = [];
      page.on('request', (r) => urls.push(r.url()));
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error' && !/status of 404/.test(m.text())) errors.push(m.text());
      });
      // a fresh secret for this browser
      child.kill('SIGTERM');
      const started = await startConsoleProcess(['--url', upstreamUrl, '--region', REGION]);
      child = started.child;
      port = Number(started.url.port);

      await page.goto(started.url.href);
      await page.getByTestId('tenant-table').waitFor();

      expect(new URL(page.url()).search).toBe('');
      expect(new URL(page.url()).pathname).toBe('/console');
      expect(await page.getByLabel('Admin token or admin key').count()).toBe(0);
      expect(await page.getByTestId('tenant-table').locator('tbody tr').innerText()).toContain('acme');
      expect(received.some((r) => r.url.pathname === '/prod/v1/tenants' && r.headers.authorization?.startsWith('AWS4-HMAC-SHA256'))).toBe(true);
      expect(urls.filter((u) => new URL(u).origin !== `http://127.0.0.1:${port}`)).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe('npm run console: failures the console explains', () => {
  it('a 503 shows "temporarily unavailable" with a countdown and retries by itself after Retry-After; an IAM refusal says which grant is missing', async () => {
    failures['/prod/v1/tenants'] = [{ status: 503, headers: { 'retry-after': '1' }, body: { error: 'temporarily_unavailable', error_description: 'the store is unreachable' } }];
    failures['/prod/v1/refresher'] = [{ status: 403, headers: {}, body: { message: 'User: arn:aws:sts::123456789012:assumed-role/ops/alice is not authorized to perform: execute-api:Invoke' } }];
    const browser = await launchChromium();
    try {
      const page = await (await browser.newContext()).newPage();
      child.kill('SIGTERM');
      const started = await startConsoleProcess(['--url', upstreamUrl, '--region', REGION]);
      child = started.child;
      port = Number(started.url.port);

      await page.goto(started.url.href);
      const alert = page.getByRole('alert').filter({ hasText: 'temporarily unavailable' });
      await alert.waitFor();
      const shown = await alert.innerText();
      await page.getByTestId('tenant-table').waitFor();
      const refused = await page.getByRole('alert').filter({ hasText: 'AWS identity' }).innerText();

      expect(shown).toContain('the store is unreachable');
      expect(shown).toMatch(/Retrying in 1 s/);
      expect(received.filter((r) => r.url.pathname === '/prod/v1/tenants')).toHaveLength(2);
      expect(refused).toContain('grantAdmin');
    } finally {
      await browser.close();
    }
  });
});

describe('npm run console: the region', () => {
  it('is read from an execute-api URL, and a custom domain without --region is refused with exit code 2', async () => {
    expect(regionOfApiUrl('https://abc123.execute-api.eu-west-1.amazonaws.com/prod')).toBe('eu-west-1');
    expect(regionOfApiUrl('https://abc123.execute-api.cn-north-1.amazonaws.com.cn/prod')).toBe('cn-north-1');
    expect(regionOfApiUrl('https://broker.example.com')).toBeUndefined();

    const proc = spawn(process.execPath, ['--import', 'tsx', 'bin/console.ts', '--url', 'https://broker.example.com'], { cwd: ROOT, env: { PATH: process.env.PATH!, ...CREDENTIALS }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));

    expect(code).toBe(2);
    expect(err).toContain('--region');
  });
});
