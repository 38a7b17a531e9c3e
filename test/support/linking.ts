import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import { accountTokensContext } from '../../lib/broker/account-tokens.js';
import { getLinkSession } from '../../lib/store/links.js';
import type { AccountTokens } from '../../lib/store/records.js';
import { secretHash } from '../../lib/store/schema.js';
import type { Db } from '../../lib/store/table.js';
import type { ScriptedBrowser } from './browser.js';
import { api } from './flow.js';
import type { Harness } from './harness.js';

/** The tenant's own web app, where finished flows land (`return_to`). */
export const TENANT_APP = 'https://app.example.com';

/** Registers `tenant` with `return_to_origins: [TENANT_APP]` and the given settings. */
export async function registerTenant(h: Harness, tenant: string, settings: Record<string, unknown> = {}): Promise<void> {
  const res = await api(h, 'PUT', `/v1/tenants/${tenant}`, { region: 'global', return_to_origins: [TENANT_APP], ...settings });
  expect([200, 201]).toContain(res.status);
}

/** `POST …/link` as the tenant's admin: the link URL. */
export async function newLink(h: Harness, tenant: string, account: string, body: Record<string, unknown> = { return_to: `${TENANT_APP}/linked` }): Promise<string> {
  const res = await api(h, 'POST', `/v1/tenants/${tenant}/accounts/${account}/link`, body);
  expect(res.status).toBe(201);
  return ((await res.json()) as { link_url: string }).link_url;
}

/** Where the callback sent the browser: `return_to` and its parameters. */
export function landing(res: Response): { url: URL; params: Record<string, string> } {
  expect(res.status).toBe(303);
  const url = new URL(res.headers.get('location')!);
  return { url, params: Object.fromEntries(url.searchParams) };
}

/** The browser follows the link through LongPort and the callback; answers the `link_session` it lands with. */
export async function linkSessionOf(browser: ScriptedBrowser, linkUrl: string): Promise<string> {
  const { callback } = await browser.completeLink(linkUrl);
  const { params } = landing(callback);
  expect(params.status).toBe('confirm');
  return params.link_session!;
}

/** `POST …/link/confirm` as the tenant's admin. */
export const confirm = (h: Harness, tenant: string, account: string, linkSession: string, headers?: Record<string, string>) =>
  api(h, 'POST', `/v1/tenants/${tenant}/accounts/${account}/link/confirm`, { link_session: linkSession }, headers);

/** The token set waiting in a link session, opened as the broker would (test-side inspection). */
export async function pendingTokens(h: Harness, linkSession: string): Promise<AccountTokens> {
  const session = await getLinkSession(h.db, secretHash(linkSession));
  expect(session?.sealedTokens).toBeDefined();
  return h.deps.cipher.open<AccountTokens>(session!.sealedTokens!, accountTokensContext(session!.tenant, session!.account));
}

/** Every item of the table, as one JSON text (to search it for values that must not be there). */
export async function tableText(db: Db): Promise<string> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await db.doc.send(new ScanCommand({ TableName: db.table, ConsistentRead: true, ExclusiveStartKey: startKey }));
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return JSON.stringify(items);
}

/** The audit trail of `tenant` through its route: `action account caller outcome` per event. */
export async function trailOf(h: Harness, tenant: string, account: string): Promise<string[]> {
  const res = await api(h, 'GET', `/v1/tenants/${tenant}/audit?account=${account}`);
  expect(res.status).toBe(200);
  const { events } = (await res.json()) as { events: { action: string; caller: string; outcome: string }[] };
  return events.map((e) => `${e.action} ${e.caller} ${e.outcome}`);
}
