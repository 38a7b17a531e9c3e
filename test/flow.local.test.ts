import { afterEach, describe, expect, it } from 'vitest';
import { api, inProcessBrowser, linkAccount } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';

let h: Harness;
afterEach(async () => h?.close());

async function callApi(h: Harness, accessToken: string) {
  return fetch(`${h.sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${accessToken}` } });
}

describe.each(['public', 'confidential'] as const)('full link flow in-process (%s client)', (clientType) => {
  it('register → link → callback → token → API call → expiry → token again (refreshed, and it works)', async () => {
    h = await startHarness({ simulator: { clientType } });

    const { callback } = await linkAccount(h, 'acme', 'alice');
    expect(callback.status).toBe(200);
    expect(await callback.text()).toContain('Account linked');

    const first = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('no-store');
    const token1 = (await first.json()) as Record<string, unknown>;
    expect(token1).toMatchObject({ token_type: 'Bearer', scope: '3', expires_in: 3600 });
    expect(token1).not.toHaveProperty('refresh_token');
    expect((await callApi(h, token1.access_token as string)).status).toBe(200);

    h.clock.advance(3601 * 1000);
    expect((await callApi(h, token1.access_token as string)).status).toBe(401);

    const second = await api(h, 'GET', '/v1/tenants/acme/accounts/alice/token');
    expect(second.status).toBe(200);
    const token2 = (await second.json()) as Record<string, unknown>;
    expect(token2.access_token).not.toBe(token1.access_token);
    expect((await callApi(h, token2.access_token as string)).status).toBe(200);
    expect(h.sim.stats.refreshGrants).toBe(1);
    expect(h.sim.stats.tokenRequests.every((r) => r.authMethod === (clientType === 'public' ? 'none' : 'client_secret_basic'))).toBe(true);
  });
});

describe('faults during linking lose nothing', () => {
  it('a discovery outage at /oauth/authorize does not consume the link: the same link works once the provider is back', async () => {
    h = await startHarness();
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });
    const { link_url } = (await (await api(h, 'POST', '/v1/tenants/acme/accounts/alice/link', {})).json()) as { link_url: string };
    h.deps.discovery.invalidate(h.sim.issuer);
    h.sim.setFaults({ discoveryStatus: 503 });

    const during = await h.app.request(link_url);
    h.sim.resetFaults();
    const { callback } = await inProcessBrowser(h).completeLink(link_url);

    expect(during.status).toBe(503);
    expect(await during.text()).toContain('Linking failed');
    expect(callback.status).toBe(200);
  });
});

describe('link URLs and return_to', () => {
  it('a link URL lives on the host of the registered redirect URI, even after BROKER_PUBLIC_URL changes', async () => {
    h = await startHarness();
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });
    h.deps.config = { ...h.deps.config, publicUrl: 'https://broker.new-domain.example' };

    const { link_url } = (await (await api(h, 'POST', '/v1/tenants/acme/accounts/alice/link', {})).json()) as { link_url: string };

    expect(new URL(link_url).origin).toBe('http://localhost:8787');
  });

  it('return_to is checked again when the flow ends: an origin the tenant removed meanwhile is not redirected to', async () => {
    h = await startHarness();
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', return_to_origins: ['https://app.example.com'] });
    const { link_url } = (await (await api(h, 'POST', '/v1/tenants/acme/accounts/alice/link', { return_to: 'https://app.example.com/done' })).json()) as { link_url: string };
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global', return_to_origins: ['https://other.example.com'] });

    const { callback } = await inProcessBrowser(h).completeLink(link_url);

    expect(callback.status).toBe(200);
    expect(callback.headers.get('location')).toBeNull();
    expect(await callback.text()).toContain('Account linked');
  });
});

describe('links and tenant lifetimes', () => {
  it('a link made for a tenant that was deleted and registered again under the same id cannot be used', async () => {
    h = await startHarness();
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });
    const { link_url } = (await (await api(h, 'POST', '/v1/tenants/acme/accounts/alice/link', {})).json()) as { link_url: string };
    expect((await api(h, 'DELETE', '/v1/tenants/acme')).status).toBe(204);
    h.clock.advance(1000);
    await api(h, 'PUT', '/v1/tenants/acme', { region: 'global' });

    const res = await h.app.request(link_url);

    expect(res.status).toBe(400);
    expect(await res.text()).toContain('not valid');
    expect(h.sim.stats.authorizations).toBe(0);
  });
});
