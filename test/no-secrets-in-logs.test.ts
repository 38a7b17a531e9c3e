/**
 * No secret in logs. A whole life of two tenants runs in-process — dynamic registration and an
 * imported confidential client, links, token reads, forced and due refreshes, failing refreshes,
 * bad callbacks, a provider error, a re-link — while every secret that crosses the wire is
 * collected from the upstream traffic itself. Then none of them may appear in a log line (the
 * broker's logger, stdout, stderr, console), an error body, or a Location header the broker sends;
 * and no token material sits in the table in plaintext.
 */
import { randomBytes } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import type { ScriptedBrowser } from './support/browser.js';
import { api, inProcessBrowser } from './support/flow.js';
import { createLogger } from '../lib/log.js';
import { ADMIN_TOKEN, PUBLIC_URL, startHarness, type Harness } from './support/harness.js';

const SERVICE_KEY = `svc-${randomBytes(16).toString('hex')}`;
const RETURN_ORIGIN = 'https://app.example.com';

type Kind = 'code' | 'code_verifier' | 'access_token' | 'refresh_token' | 'client_secret' | 'registration_access_token' | 'basic_credentials' | 'caller_key' | 'browser_binding';

/** Secrets seen anywhere in the run, by kind. */
class Secrets {
  readonly byKind = new Map<Kind, Set<string>>();

  add(kind: Kind, value: string | null | undefined): void {
    if (!value || value.length < 8) return;
    const set = this.byKind.get(kind) ?? new Set<string>();
    set.add(value);
    this.byKind.set(kind, set);
  }

  count(kind: Kind): number {
    return this.byKind.get(kind)?.size ?? 0;
  }

  /** Every secret with the forms it may take inside a URL or a JSON string. */
  *all(kinds?: Kind[]): Generator<{ kind: Kind; value: string; form: string }> {
    for (const [kind, values] of this.byKind) {
      if (kinds && !kinds.includes(kind)) continue;
      for (const value of values) {
        for (const form of new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)])) yield { kind, value, form };
      }
    }
  }

  /** The secrets found in a text, as `kind: value…` labels (empty when clean). */
  foundIn(text: string, kinds?: Kind[]): string[] {
    const found: string[] = [];
    for (const { kind, value, form } of this.all(kinds)) if (text.includes(form)) found.push(`${kind}: ${value.slice(0, 6)}…`);
    return found;
  }
}

interface UpstreamExchange {
  url: string;
  authorization: string | null;
  body: string;
  responseText: string;
}

interface BrokerAnswer {
  url: string;
  status: number;
  location: string | null;
  setCookies: string[];
  body: string;
}

/** Records what the broker sends upstream and what it answers, and everything printed. */
function instrument(h: Harness) {
  const upstream: UpstreamExchange[] = [];
  const answers: BrokerAnswer[] = [];
  const realFetch = h.deps.http.fetch;
  h.deps.http.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const res = await realFetch(input, init);
    const body = init?.body;
    upstream.push({
      url: String(input),
      authorization: new Headers(init?.headers).get('authorization'),
      body: typeof body === 'string' ? body : body instanceof URLSearchParams ? body.toString() : body instanceof Uint8Array ? Buffer.from(body).toString('utf8') : '',
      responseText: await res.clone().text().catch(() => ''),
    });
    return res;
  }) as typeof fetch;
  const request = h.app.request;
  h.app.request = (async (...args: Parameters<typeof request>) => {
    const res = await request(...args);
    answers.push({ url: String(args[0]), status: res.status, location: res.headers.get('location'), setCookies: res.headers.getSetCookie(), body: await res.clone().text() });
    return res;
  }) as typeof request;
  const printed: MockInstance[] = [
    vi.spyOn(process.stdout, 'write'),
    vi.spyOn(process.stderr, 'write'),
    ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => vi.spyOn(console, m)),
  ];
  const printedText = () => printed.flatMap((spy) => spy.mock.calls.map((args) => args.map((a) => (typeof a === 'string' ? a : a instanceof Uint8Array ? Buffer.from(a).toString('utf8') : String(a))).join(' '))).join('\n');
  return { upstream, answers, printedText };
}

/** Every secret that crossed the wire: the requests the broker made and what the provider answered. */
function collectSecrets(h: Harness, upstream: UpstreamExchange[], answers: BrokerAnswer[], callbackUrls: string[]): Secrets {
  const secrets = new Secrets();
  for (const ex of upstream) {
    const form = new URLSearchParams(ex.body.startsWith('{') ? '' : ex.body);
    secrets.add('code', form.get('code'));
    secrets.add('code_verifier', form.get('code_verifier'));
    secrets.add('refresh_token', form.get('refresh_token'));
    secrets.add('client_secret', form.get('client_secret'));
    if (form.get('token_type_hint') === 'refresh_token') secrets.add('refresh_token', form.get('token'));
    if (ex.authorization?.startsWith('Basic ')) {
      secrets.add('basic_credentials', ex.authorization.slice('Basic '.length));
      const decoded = Buffer.from(ex.authorization.slice('Basic '.length), 'base64').toString('utf8');
      secrets.add('client_secret', decodeURIComponent(decoded.slice(decoded.indexOf(':') + 1).replace(/\+/g, ' ')));
    }
    if (ex.authorization?.startsWith('Bearer ')) secrets.add('registration_access_token', ex.authorization.slice('Bearer '.length));
    try {
      const json = JSON.parse(ex.responseText) as Record<string, unknown>;
      for (const kind of ['access_token', 'refresh_token', 'client_secret', 'registration_access_token'] as const) {
        if (typeof json[kind] === 'string') secrets.add(kind, json[kind]);
      }
    } catch {
      // not JSON: discovery errors, empty revocation answers
    }
  }
  for (const client of h.sim.clients.values()) {
    secrets.add('client_secret', client.client_secret);
    secrets.add('registration_access_token', client.registration_access_token);
  }
  for (const token of h.sim.stats.refreshGrantsByToken.keys()) secrets.add('refresh_token', token);
  for (const answer of answers) {
    if (answer.status === 200 && answer.body.startsWith('{')) secrets.add('access_token', (JSON.parse(answer.body) as { access_token?: string }).access_token);
    for (const cookie of answer.setCookies) if (cookie.startsWith('lpb_')) secrets.add('browser_binding', cookie.split(';')[0]!.split('=')[1]);
  }
  for (const url of callbackUrls) secrets.add('code', new URL(url).searchParams.get('code'));
  secrets.add('caller_key', ADMIN_TOKEN);
  secrets.add('caller_key', SERVICE_KEY);
  return secrets;
}

/** Opens a link and logs in at the provider; answers the callback URL without opening it. */
const reachCallback = (browser: ScriptedBrowser, linkUrl: string): Promise<string> => browser.reachCallback(linkUrl);

async function newLink(h: Harness, tenant: string, account: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await api(h, 'POST', `/v1/tenants/${tenant}/accounts/${account}/link`, body);
  expect(res.status).toBe(201);
  return ((await res.json()) as { link_url: string }).link_url;
}

/**
 * The whole life of two tenants, good and bad paths; answers the callback URLs the provider sent
 * the browser to (the one place a code belongs).
 */
async function runEverything(h: Harness): Promise<string[]> {
  const callbackUrls: string[] = [];
  const expectStatus = async (res: Response | Promise<Response>, status: number) => expect((await res).status).toBe(status);

  // tenants: one registered dynamically, one imported with a secret full of + / =
  await expectStatus(api(h, 'PUT', '/v1/tenants/acme', { region: 'global', return_to_origins: [RETURN_ORIGIN] }), 201);
  const importedSecret = `${randomBytes(24).toString('base64')}+/=`;
  h.sim.addClient({ client_id: 'imported-client', client_secret: importedSecret, redirect_uris: [`${PUBLIC_URL}/oauth/callback`], token_endpoint_auth_method: 'client_secret_post' });
  await expectStatus(api(h, 'PUT', '/v1/tenants/imported', { region: 'global', client_id: 'imported-client', client_secret: importedSecret, token_endpoint_auth_method: 'client_secret_post' }), 201);

  // links (one back to return_to, one to the broker's page)
  const alice = inProcessBrowser(h);
  const aliceCallback = await reachCallback(alice, await newLink(h, 'acme', 'alice', { return_to: `${RETURN_ORIGIN}/linked` }));
  callbackUrls.push(aliceCallback);
  await expectStatus(alice.open(aliceCallback), 303);
  const bob = inProcessBrowser(h);
  const bobCallback = await reachCallback(bob, await newLink(h, 'imported', 'bob'));
  callbackUrls.push(bobCallback);
  await expectStatus(bob.open(bobCallback), 200);

  // token reads (admin and service key), forced refresh, refresh when due
  await expectStatus(api(h, 'GET', '/v1/tenants/acme/accounts/alice/token'), 200);
  await expectStatus(api(h, 'GET', '/v1/tenants/acme/accounts/alice/token', undefined, { authorization: `Bearer ${SERVICE_KEY}` }), 200);
  await expectStatus(api(h, 'GET', '/v1/tenants/imported/accounts/bob/token'), 200);
  await expectStatus(api(h, 'POST', '/v1/tenants/acme/accounts/alice/refresh'), 200);
  await expectStatus(api(h, 'POST', '/v1/tenants/imported/accounts/bob/refresh'), 200);
  h.clock.advance(3601 * 1000);
  await expectStatus(api(h, 'GET', '/v1/tenants/acme/accounts/alice/token'), 200);
  await expectStatus(api(h, 'GET', '/v1/tenants/imported/accounts/bob/token'), 200);

  // failing refreshes (past the 10 s in which forced refreshes coalesce): outage, a broken answer, then the provider refuses the refresh token
  h.clock.advance(11_000);
  h.sim.setFaults({ tokenStatus: 503, retryAfterS: 0, failCount: 3 });
  expect((await api(h, 'POST', '/v1/tenants/acme/accounts/alice/refresh')).status).toBeGreaterThanOrEqual(500);
  h.sim.resetFaults();
  h.sim.setFaults({ malformedJson: true, failCount: 1 });
  expect((await api(h, 'POST', '/v1/tenants/imported/accounts/bob/refresh')).status).toBeGreaterThanOrEqual(500);
  h.sim.resetFaults();
  h.sim.revokeAll();
  await expectStatus(api(h, 'POST', '/v1/tenants/acme/accounts/alice/refresh'), 409);
  await expectStatus(api(h, 'GET', '/v1/tenants/acme/accounts/alice/token'), 409);

  // bad callbacks: a replayed one, a forged state around a real code, an issuer mismatch, a provider error
  await expectStatus(alice.open(aliceCallback), 400);
  const carol = inProcessBrowser(h);
  const carolCallback = await reachCallback(carol, await newLink(h, 'acme', 'carol'));
  callbackUrls.push(carolCallback);
  const forged = new URL(carolCallback);
  forged.searchParams.set('state', randomBytes(32).toString('base64url'));
  await expectStatus(carol.open(forged.href), 400);
  const wrongIssuer = new URL(carolCallback);
  wrongIssuer.searchParams.set('iss', 'https://evil.example');
  await expectStatus(carol.open(wrongIssuer.href), 400);
  h.sim.setFaults({ authorizeError: 'access_denied' });
  const dave = inProcessBrowser(h);
  const daveCallback = await reachCallback(dave, await newLink(h, 'acme', 'dave', { return_to: `${RETURN_ORIGIN}/linked` }));
  await expectStatus(dave.open(daveCallback), 303);
  h.sim.resetFaults();

  // callers presenting token material as their key are refused
  const bobToken = await api(h, 'GET', '/v1/tenants/imported/accounts/bob/token');
  const tokenAsKey = ((await bobToken.json()) as { access_token: string }).access_token;
  await expectStatus(api(h, 'GET', '/v1/tenants/imported/accounts/bob/token', undefined, { authorization: `Bearer ${tokenAsKey}` }), 401);

  // re-link alice (the provider had revoked her): the replaced refresh token is revoked upstream
  const alice2 = inProcessBrowser(h);
  const aliceAgain = await reachCallback(alice2, await newLink(h, 'acme', 'alice'));
  callbackUrls.push(aliceAgain);
  await expectStatus(alice2.open(aliceAgain), 200);
  await expectStatus(api(h, 'GET', '/v1/tenants/acme/accounts/alice/token'), 200);
  return callbackUrls;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(['public', 'confidential'] as const)('no secret in logs (dynamic registration issues %s clients)', (clientType) => {
  it('a whole life of two tenants leaves no token, code, verifier, client secret, registration token or caller key in any log line, error body or Location header', async () => {
    const h = await startHarness({ simulator: { clientType }, env: { BROKER_API_KEYS: JSON.stringify({ [SERVICE_KEY]: { tenants: ['acme'], role: 'service' } }) } });
    try {
      const { upstream, answers, printedText } = instrument(h);

      const callbackUrls = await runEverything(h);

      const secrets = collectSecrets(h, upstream, answers, callbackUrls);
      // the collection is not vacuous: every kind of secret was really seen
      expect(secrets.count('code')).toBeGreaterThanOrEqual(4);
      expect(secrets.count('code_verifier')).toBeGreaterThanOrEqual(3);
      expect(secrets.count('access_token')).toBeGreaterThanOrEqual(5);
      expect(secrets.count('refresh_token')).toBeGreaterThanOrEqual(5);
      expect(secrets.count('client_secret')).toBe(clientType === 'confidential' ? 2 : 1);
      expect(secrets.count('registration_access_token')).toBeGreaterThanOrEqual(1);
      expect(secrets.count('browser_binding')).toBeGreaterThanOrEqual(4);
      expect(secrets.count('caller_key')).toBe(2);
      expect(h.logs.length).toBeGreaterThan(10);

      // log lines: the broker's logger, and anything printed to stdout, stderr or the console
      for (const line of h.logs) expect(secrets.foundIn(line), line).toEqual([]);
      expect(secrets.foundIn(printedText())).toEqual([]);
      // error bodies (JSON and HTML pages)
      const errors = answers.filter((a) => a.status >= 400);
      expect(errors.length).toBeGreaterThanOrEqual(8);
      for (const answer of errors) expect(secrets.foundIn(answer.body), `${answer.status} ${answer.url}`).toEqual([]);
      // Location headers the broker sends (to the provider, to return_to)
      const redirects = answers.filter((a) => a.location);
      expect(redirects.length).toBeGreaterThanOrEqual(6);
      for (const answer of redirects) expect(secrets.foundIn(answer.location!), answer.location!).toEqual([]);
      // the code belongs in the callback URL, and only there
      for (const url of callbackUrls) expect(new URL(url).pathname).toBe('/oauth/callback');
      // token material is never stored in plaintext (the verifier lives in its flow state by design)
      const items = (await h.db.doc.send(new ScanCommand({ TableName: h.db.table }))).Items ?? [];
      expect(secrets.foundIn(JSON.stringify(items), ['access_token', 'refresh_token', 'client_secret', 'registration_access_token', 'basic_credentials', 'caller_key', 'code'])).toEqual([]);
    } finally {
      await h.close();
    }
  });
});

describe('the logger drops secret fields at any depth', () => {
  const SECRET = `s3cr3t-${randomBytes(12).toString('hex')}`;
  const lines = (write: (log: ReturnType<typeof createLogger>) => void): string[] => {
    const out: string[] = [];
    write(createLogger({ sink: (line) => out.push(line) }));
    return out;
  };

  it('a secret-named field is dropped at any depth: in nested objects, in arrays, and in a child logger’s fields', () => {
    const out = lines((log) => {
      log.info('nested', {
        tenant: 'acme',
        detail: { account: 'alice', refresh_token: SECRET, grant: { tokens: { access_token: SECRET }, client_secret: SECRET } },
        attempts: [{ code: SECRET, status: 503 }, [{ code_verifier: SECRET }]],
        headers: { authorization: `Bearer ${SECRET}`, accept: 'application/json' },
      });
      log.child({ context: { cookie: SECRET, route: 'GET /v1/tenants/{tenant}' } }).warn('child', { deeper: { a: { b: { c: { password: SECRET } } } } });
    });

    expect(out).toHaveLength(2);
    for (const line of out) expect(line).not.toContain(SECRET);
    const nested = JSON.parse(out[0]!);
    // what holds no secret stays, at every depth
    expect(nested).toMatchObject({ tenant: 'acme', detail: { account: 'alice', grant: {} }, attempts: [{ status: 503 }, [{}]], headers: { accept: 'application/json' } });
    expect(JSON.parse(out[1]!)).toMatchObject({ context: { route: 'GET /v1/tenants/{tenant}' }, deeper: { a: { b: { c: {} } } } });
  });

  it('an error at any depth is logged as name, code and message only, never its body or cause’s body', () => {
    const body = Object.assign(new Error('invalid response'), { name: 'OperationProcessingError', code: 'OAUTH_INVALID_RESPONSE', cause: { body: { access_token: SECRET } }, response: { text: SECRET } });

    const out = lines((log) => log.error('failed', { steps: [{ step: 'refresh', err: body }], outer: { why: new Error('wrapped', { cause: body }) } }));

    expect(out[0]).not.toContain(SECRET);
    expect(JSON.parse(out[0]!)).toMatchObject({
      steps: [{ step: 'refresh', err: { name: 'OperationProcessingError', code: 'OAUTH_INVALID_RESPONSE', message: 'invalid response' } }],
      outer: { why: { name: 'Error', message: 'wrapped', cause: { name: 'OperationProcessingError' } } },
    });
  });

  it('bytes are logged as their length only, whatever their field is called', () => {
    const dataKey = randomBytes(32);

    const out = lines((log) => log.info('keys', { plain: dataKey, nested: { blob: new Uint8Array(dataKey) }, list: [dataKey.buffer] }));

    expect(out[0]).not.toContain(dataKey.toString('base64'));
    expect(out[0]).not.toContain(`"data":[${dataKey[0]},`);
    expect(JSON.parse(out[0]!)).toMatchObject({ plain: '[32 bytes]', nested: { blob: '[32 bytes]' } });
  });

  it('a cycle or a very deep value never breaks a log line', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = { refresh_token: SECRET };
    for (let i = 0; i < 20; i++) deep = { next: deep };

    const out = lines((log) => log.info('odd', { cyclic, deep, big: 10n }));

    expect(out).toHaveLength(1);
    expect(out[0]).not.toContain(SECRET);
    expect(JSON.parse(out[0]!)).toMatchObject({ cyclic: { name: 'loop', self: '[circular]' }, big: '10' });
  });
});
