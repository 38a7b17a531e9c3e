/**
 * `npm run console` for a deployment in AWS: a server on 127.0.0.1 that serves the operator console
 * and forwards its `/v1/*` calls to the API, signed (SigV4, service `execute-api`) with the
 * operator's own AWS credentials. The page itself never holds a credential.
 *
 * Nothing but the operator's own browser tab may drive it:
 * - a request whose Host is not this server's own is refused (DNS rebinding);
 * - nothing is served before the one-time secret of the printed URL is exchanged for an HttpOnly,
 *   SameSite=Strict session cookie (as Jupyter does), and the secret works once;
 * - an API call must carry the console's own header and come from this origin, so a page on
 *   another port of 127.0.0.1 (same site, so it would carry the cookie) cannot send one.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie, setCookie } from 'hono/cookie';
import { authorizer, type AwsCredentials } from '../client/auth.js';
import { consoleRoutes } from './serve.js';

export interface ConsoleProxyOptions {
  /** The API's base URL with its stage: `https://abc123.execute-api.eu-west-1.amazonaws.com/prod`. */
  apiUrl: string;
  region: string;
  /** 0 (default): a free port. */
  port?: number;
  /** Default: the SDK's default credential provider chain. */
  credentials?: AwsCredentials | (() => Promise<AwsCredentials>);
  fetch?: typeof globalThis.fetch;
  /** How long one forwarded call may take. */
  upstreamTimeoutMs?: number;
}

export interface ConsoleProxy {
  /** The URL to open once: it carries the one-time secret. */
  signInUrl: string;
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  port: number;
  close(): Promise<void>;
}

/** The header only the console's own script sends on API calls. */
export const CONSOLE_HEADER = 'x-lpb-console';
const MAX_BODY_BYTES = 64 * 1024;
/** Answer headers passed back from the API; anything else (cookies, API Gateway internals) stays behind. */
const PASSED_BACK = ['content-type', 'cache-control', 'retry-after'];

export async function startConsoleProxy(options: ConsoleProxyOptions): Promise<ConsoleProxy> {
  const api = parseApiUrl(options.apiUrl);
  const fetchUpstream = options.fetch ?? globalThis.fetch;
  const sign = authorizer({ type: 'sigv4', region: options.region, ...(options.credentials ? { credentials: options.credentials } : {}) });
  const secret = randomBytes(32).toString('base64url');
  let secretUsed = false;
  const sessions = new Set<string>();
  let port = 0;
  const cookieName = () => `lpb_console_${port}`;
  const origins = () => [`http://127.0.0.1:${port}`, `http://localhost:${port}`];

  const app = new Hono();
  app.use('*', async (c, next) => {
    /* Precondition: a request whose Host is not this server's own is refused (DNS rebinding). */
    const host = c.req.header('host') ?? '';
    if (!origins().some((o) => o === `http://${host}`)) return refuse(c, 403, 'This server answers only as 127.0.0.1 or localhost on its own port.');
    c.header('referrer-policy', 'no-referrer');
    c.header('x-content-type-options', 'nosniff');
    await next();
  });

  app.get('/login', (c) => {
    const given = c.req.query('secret') ?? '';
    /* Precondition: the one-time secret works once, and only when it matches. */
    if (secretUsed || !sameSecret(given, secret)) return refuse(c, 403, secretUsed ? 'This sign-in URL was already used. Restart `npm run console` for a new one.' : 'This sign-in URL is not the one `npm run console` printed.');
    secretUsed = true;
    const session = randomBytes(32).toString('base64url');
    sessions.add(session);
    setCookie(c, cookieName(), session, { httpOnly: true, sameSite: 'Strict', path: '/' });
    c.header('cache-control', 'no-store');
    // a clean URL: the secret does not stay in the address bar
    return c.redirect('/console', 303);
  });

  app.use('*', async (c, next) => {
    /* Precondition: nothing is served before the one-time secret was exchanged for the session cookie. */
    const session = getCookie(c, cookieName());
    if (!session || !sessions.has(session)) return refuse(c, 401, 'Open the URL that `npm run console` printed (it signs you in once).');
    await next();
  });

  app.get('/', (c) => c.redirect('/console', 303));
  app.route('/', consoleRoutes({ mode: 'proxy' }));

  app.use('/v1/*', bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => refuse(c, 413, `The request body exceeds ${MAX_BODY_BYTES} bytes.`) }));
  app.all('/v1/*', async (c) => {
    /* Precondition: an API call carries the console's header and comes from this origin (no other page can send one). */
    const origin = c.req.header('origin');
    if (c.req.header(CONSOLE_HEADER) !== '1' || (origin !== undefined && !origins().includes(origin))) return refuse(c, 403, 'API calls are accepted from the console page only.');
    const url = new URL(c.req.url);
    const target = new URL(api.base + url.pathname + url.search);
    const method = c.req.method;
    const body = method === 'GET' || method === 'HEAD' ? undefined : await c.req.text();
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body) headers['content-type'] = 'application/json';
    let signed: Record<string, string>;
    try {
      signed = await sign(method, target, headers, body || undefined);
    } catch (err) {
      return c.json({ error: 'credentials_unavailable', error_description: `No AWS credentials to sign with: ${firstLine(err)}. Sign in (e.g. aws sso login) and restart npm run console.` }, 500);
    }
    let res: Response;
    try {
      res = await fetchUpstream(target, { method, headers: signed, ...(body ? { body } : {}), redirect: 'manual', signal: AbortSignal.timeout(options.upstreamTimeoutMs ?? 15_000) });
    } catch (err) {
      c.header('retry-after', '5');
      return c.json({ error: 'temporarily_unavailable', error_description: `The API at ${api.origin} could not be reached: ${firstLine(err)}` }, 503);
    }
    const out = new Headers();
    for (const name of PASSED_BACK) {
      const value = res.headers.get(name);
      if (value !== null) out.set(name, value);
    }
    return new Response(res.body, { status: res.status, headers: out });
  });

  const server = await listen(app.fetch, options.port ?? 0);
  port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    signInUrl: `${origin}/login?secret=${secret}`,
    origin,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/** The API's base: https, or plain http on a loopback address (tests, a local broker). */
function parseApiUrl(apiUrl: string): { base: string; origin: string } {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new Error(`--url ${apiUrl} is not a URL: give the API's base URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/prod`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new Error(`--url must be https (plain http only on a loopback address): ${url.origin}`);
  if (url.search || url.hash) throw new Error('--url takes the base URL only, without a query or fragment');
  return { base: url.origin + url.pathname.replace(/\/+$/, ''), origin: url.origin };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A refusal: the contract's error shape for API calls, a plain sentence for a browser tab. */
function refuse(c: Context, status: 401 | 403 | 413, description: string) {
  c.header('cache-control', 'no-store');
  if (!new URL(c.req.url).pathname.startsWith('/v1/')) return c.text(`${description}\n`, status);
  return c.json({ error: status === 401 ? 'unauthorized' : status === 413 ? 'payload_too_large' : 'forbidden', error_description: description }, status);
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n', 1)[0]!.slice(0, 200);

function listen(fetch: (req: Request) => Response | Promise<Response>, port: number): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname: '127.0.0.1' }, () => resolve(server));
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new Error(`port ${port} is in use: pick another with --port`) : err));
  });
}

