/**
 * `npm run demo`: the whole product in one minute, with no LongPort account. It starts the LongPort
 * simulator and the broker (local mode, throw-away data), links a demo account by following the
 * link like a browser, fetches a token, calls the simulator's get_security_list with it, forces a
 * refresh, and prints each step.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../lib/log.js';
import { startLocalBroker } from '../local/local-broker.js';
import { startLongPortSimulator } from '../simulator/longport-simulator.js';
import { ScriptedBrowser } from '../simulator/scripted-browser.js';

const step = (n: number, text: string) => console.log(`\n${n}. ${text}`);
const show = (text: string) => console.log(`   ${text}`);
const mask = (token: string) => `${token.slice(0, 6)}…(${token.length} chars)`;

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lpb-demo-'));
  const logs: string[] = [];
  step(1, 'Start the LongPort simulator (a local OAuth 2.0 server that behaves like LongPort)');
  const sim = await startLongPortSimulator();
  show(`issuer ${sim.issuer}`);

  step(2, 'Start the broker in local mode (DynamoDB Local, local key instead of KMS)');
  const broker = await startLocalBroker({
    env: { PORT: '0', BROKER_DATA_DIR: dataDir, LONGPORT_ISSUER: sim.issuer, BROKER_REFRESH_INTERVAL_S: '3600' },
    log: createLogger({ sink: (line) => logs.push(line) }),
    progress: (line) => show(line),
  });
  show(`broker at ${broker.url}`);
  const admin = { authorization: `Bearer ${broker.adminToken}`, 'content-type': 'application/json' };

  try {
    step(3, 'A tenant registers its OAuth client: PUT /v1/tenants/demo {"region":"global"}');
    const tenant = await fetch(`${broker.url}/v1/tenants/demo`, { method: 'PUT', headers: admin, body: JSON.stringify({ region: 'global' }) });
    const t = (await expectOk(tenant)) as { client_id: string; client_type: string; redirect_uri: string };
    show(`${tenant.status}: client ${t.client_id} (${t.client_type}, PKCE S256), redirect URI ${t.redirect_uri}`);

    step(4, 'The tenant creates a link URL for its end user alice: POST /v1/tenants/demo/accounts/alice/link');
    const link = (await expectOk(await fetch(`${broker.url}/v1/tenants/demo/accounts/alice/link`, { method: 'POST', headers: admin, body: '{}' }))) as { link_url: string; expires_at: string };
    show(`link URL (single use, until ${link.expires_at}):`);
    show(link.link_url);

    step(5, 'alice opens the link: broker → LongPort login page → back to the broker callback');
    const browser = new ScriptedBrowser(() => (url, init) => fetch(url, { ...init, redirect: 'manual' }));
    const { callback, callbackUrl } = await browser.completeLink(link.link_url);
    show(`callback ${new URL(callbackUrl).pathname} answered ${callback.status}: ${(await callback.text()).match(/<h1>(.*?)<\/h1>/)?.[1] ?? ''}`);

    step(6, 'An internal service asks for a token: GET /v1/tenants/demo/accounts/alice/token');
    const token = (await expectOk(await fetch(`${broker.url}/v1/tenants/demo/accounts/alice/token`, { headers: admin }))) as { access_token: string; expires_in: number; scope: string };
    show(`access_token ${mask(token.access_token)}, expires in ${token.expires_in} s, scope ${token.scope} — no refresh token, ever`);

    step(7, "It calls LongPort's get_security_list with that token");
    const api = await fetch(`${sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${token.access_token}` } });
    const body = (await api.json()) as { data?: { list?: { symbol: string }[] } };
    show(`${api.status}: ${(body.data?.list ?? []).map((s) => s.symbol).join(', ')}`);

    step(8, 'Force a refresh (the scheduler does this before expiry): POST …/alice/refresh');
    const refreshed = (await expectOk(await fetch(`${broker.url}/v1/tenants/demo/accounts/alice/refresh`, { method: 'POST', headers: admin }))) as { access_token: string };
    show(`new access_token ${mask(refreshed.access_token)}; the provider rotated the refresh token (${sim.stats.refreshGrants} refresh grant)`);
    const again = await fetch(`${sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
    show(`get_security_list with the new token: ${again.status}`);

    console.log('\nDone. Every step above is what a tenant backend, an end user and a service do in production.');
  } finally {
    await broker.stop();
    await sim.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function expectOk(res: Response): Promise<unknown> {
  const body = await res.json();
  if (!res.ok) throw new Error(`${res.status} ${JSON.stringify(body)}`);
  return body;
}

main().catch((err: unknown) => {
  console.error('\n✗ demo failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
