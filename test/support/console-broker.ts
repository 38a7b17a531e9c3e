/**
 * A real broker for the console, CLI and proxy tests: the harness (every route group, DynamoDB
 * Local, the LongPort simulator) served on `http://localhost:<port>` with the console mounted on the
 * same origin, as the local server will mount it, and a fleet of tenants whose accounts were linked
 * through the simulator's real login — some of them since refused by LongPort (`needs_reauth`).
 */
import { FORCED_REFRESH_FLOOR_MS } from '../../lib/broker/refresh.js';
import { consoleRoutes } from '../../console/serve.js';
import { ScriptedBrowser } from '../../simulator/scripted-browser.js';
import { adminHeaders, startHarness, type Harness } from './harness.js';
import { serveFetch, type RunningServer } from './http-server.js';

export interface ConsoleBroker {
  h: Harness;
  server: RunningServer;
  url: string;
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  /** Registers the tenant when needed; links the account through the simulator's login. */
  linkAccount(tenant: string, account: string): Promise<void>;
  close(): Promise<void>;
}

export async function startConsoleBroker(options: { env?: Record<string, string> } = {}): Promise<ConsoleBroker> {
  let app: Harness['app'] | undefined;
  const console = consoleRoutes();
  const server = await serveFetch(
    (req) => {
      if (new URL(req.url).pathname.startsWith('/console')) return console.fetch(req);
      return app ? app.fetch(req) : new Response('broker not attached yet', { status: 503 });
    },
    { host: 'localhost' },
  );
  let h: Harness;
  try {
    h = await startHarness({ env: { BROKER_PUBLIC_URL: server.url, ...options.env } });
  } catch (err) {
    await server.close();
    throw err;
  }
  app = h.app;
  // the console runs on the browser's clock: the broker's starts at real time
  h.clock.set(Date.now());
  const url = server.url;
  const admin = (method: string, path: string, body?: unknown) => fetch(`${url}${path}`, { method, headers: adminHeaders, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const registered = new Set<string>();
  const linkAccount = async (tenant: string, account: string) => {
    if (!registered.has(tenant)) {
      const reg = await admin('PUT', `/v1/tenants/${tenant}`, { region: 'global' });
      if (![200, 201].includes(reg.status)) throw new Error(`registering ${tenant}: ${reg.status} ${await reg.text()}`);
      registered.add(tenant);
    }
    const link = await admin('POST', `/v1/tenants/${tenant}/accounts/${account}/link`, {});
    if (link.status !== 201) throw new Error(`link for ${tenant}/${account}: ${link.status} ${await link.text()}`);
    const { link_url } = (await link.json()) as { link_url: string };
    const browser = new ScriptedBrowser(() => (u, init) => fetch(u, { ...init, redirect: 'manual' }));
    const { callback } = await browser.completeLink(link_url);
    if (callback.status !== 200) throw new Error(`callback for ${tenant}/${account}: ${callback.status}`);
  };
  return { h, server, url, admin, linkAccount, close: async () => void (await Promise.all([server.close(), h.close()])) };
}

/** What {@link seedFleet} made. */
export const FLEET = {
  /** linked through the simulator, then refused by LongPort: needs_reauth */
  stranded: ['dave', 'erin', 'frank'],
  /** linked, two minutes apart: their tokens expire over 40 minutes */
  linked: Array.from({ length: 20 }, (_, i) => `user-${String(i + 1).padStart(2, '0')}`),
  globex: ['grace', 'heidi'],
} as const;

/**
 * Tenants `acme` (20 linked accounts, 3 needing a new link), `globex` (2 linked) and `initech`
 * (registered, no account). Tokens are issued on a clock that walks from 40 minutes ago to now,
 * so their expiries spread out on the timeline; the broker's clock ends at the real time.
 */
export async function seedFleet(b: ConsoleBroker): Promise<void> {
  const start = Date.now() - 40 * 60_000;
  b.h.clock.set(start);
  for (const account of FLEET.stranded) await b.linkAccount('acme', account);
  // the end users revoked access at LongPort: a forced refresh (past the 10 s in which forced refreshes coalesce) finds the refresh token dead
  b.h.sim.revokeAll();
  b.h.clock.advance(FORCED_REFRESH_FLOOR_MS);
  for (const account of FLEET.stranded) {
    const refused = await b.admin('POST', `/v1/tenants/acme/accounts/${account}/refresh`);
    if (refused.status !== 409) throw new Error(`expected 409 reauth_required for ${account}, got ${refused.status}`);
  }
  for (const [i, account] of FLEET.linked.entries()) {
    b.h.clock.set(start + i * 2 * 60_000);
    await b.linkAccount('acme', account);
  }
  b.h.clock.set(Date.now());
  for (const account of FLEET.globex) await b.linkAccount('globex', account);
  const initech = await b.admin('PUT', '/v1/tenants/initech', { region: 'global' });
  if (initech.status !== 201) throw new Error(`registering initech: ${initech.status}`);
}
