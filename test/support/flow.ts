import { expect } from 'vitest';
import { ScriptedBrowser, type Send } from './browser.js';
import { adminHeaders, PUBLIC_URL, type Harness } from './harness.js';

/** Sends broker URLs into the in-process app and everything else over the network. */
export function inProcessBrowser(h: Harness): ScriptedBrowser {
  return new ScriptedBrowser((url): Send => (url.origin === new URL(PUBLIC_URL).origin ? (u, init) => Promise.resolve(h.app.request(u, init)) : (u, init) => fetch(u, { ...init, redirect: 'manual' })));
}

export async function api(h: Harness, method: string, path: string, body?: unknown, headers: Record<string, string> = adminHeaders): Promise<Response> {
  return h.app.request(`${PUBLIC_URL}${path}`, { method, headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
}

/** register → link → browser flow; answers the callback response. */
export async function linkAccount(h: Harness, tenant: string, account: string, options: { register?: Record<string, unknown>; link?: Record<string, unknown>; browser?: ScriptedBrowser } = {}) {
  const reg = await api(h, 'PUT', `/v1/tenants/${tenant}`, { region: 'global', ...options.register });
  expect([200, 201]).toContain(reg.status);
  const link = await api(h, 'POST', `/v1/tenants/${tenant}/accounts/${account}/link`, options.link ?? {});
  expect(link.status).toBe(201);
  const { link_url } = (await link.json()) as { link_url: string };
  const browser = options.browser ?? inProcessBrowser(h);
  const done = await browser.completeLink(link_url);
  return { ...done, browser, linkUrl: link_url };
}
