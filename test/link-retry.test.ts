/**
 * Issue 13 item 6: a failure at the callback that may pass (the provider briefly unreachable, a 5xx,
 * a time-out, the store unreachable) leaves the link usable, so the end user tries again from the
 * same link while it lives; and the link still completes one linking at most. In-process against
 * DynamoDB Local and the LongPort simulator, with real faults (the provider's listener closed, a hung
 * request, a store endpoint nobody listens on).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { accountTokensContext } from '../lib/broker/account-tokens.js';
import { getAccount } from '../lib/store/accounts.js';
import type { AccountTokens } from '../lib/store/records.js';
import { createDb } from '../lib/store/table.js';
import { inProcessBrowser } from './support/flow.js';
import { startHarness, type Harness } from './support/harness.js';
import { landing, newLink, registerTenant, TENANT_APP } from './support/linking.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
  await registerTenant(h, 'acme');
});
afterEach(async () => {
  await h.sim.bringUp();
  await h?.close();
});

/** The "try again" link of a failure page, resolved against the broker. */
function retryLinkOf(html: string, base: string): string | undefined {
  const href = /<a href="([^"]+)">/.exec(html)?.[1];
  return href ? new URL(href.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))), base).href : undefined;
}

async function storedTokens(account: string): Promise<AccountTokens> {
  const record = (await getAccount(h.db, 'acme', account))!;
  return h.deps.cipher.open<AccountTokens>(record.sealedTokens, accountTokensContext('acme', account));
}

async function expectRetryPage(res: Response, linkUrl: string): Promise<void> {
  expect(res.status).toBe(503);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  const html = await res.text();
  expect(html).toContain('could not be reached just now');
  expect(retryLinkOf(html, linkUrl)).toBe(linkUrl);
}

describe('a failure at the callback that may pass leaves the link usable', () => {
  it('a transient failure at the callback offers the same link again (the provider answers 503), and the same link then links the account', async () => {
    const linkUrl = await newLink(h, 'acme', 'alice', {});
    const browser = inProcessBrowser(h);
    const callbackUrl = await browser.reachCallback(linkUrl);
    h.sim.setFaults({ tokenStatus: 503, failCount: 1, retryAfterS: 0 });

    const failed = await browser.open(callbackUrl);

    await expectRetryPage(failed, linkUrl);
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
    const { callback } = await browser.completeLink(linkUrl);
    expect(callback.status).toBe(200);
    expect(await getAccount(h.db, 'acme', 'alice')).toMatchObject({ status: 'linked' });
  });

  it('the provider down at the callback sends the browser to return_to?status=error&error=upstream_unavailable, and the same link then links the account', async () => {
    const linkUrl = await newLink(h, 'acme', 'alice', { return_to: `${TENANT_APP}/linked` });
    const browser = inProcessBrowser(h);
    const callbackUrl = await browser.reachCallback(linkUrl);
    await h.sim.takeDown();

    const failed = await browser.open(callbackUrl);

    expect(landing(failed).params).toEqual({ status: 'error', error: 'upstream_unavailable', account: 'alice' });
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
    await h.sim.bringUp();
    expect(landing((await browser.completeLink(linkUrl)).callback).params).toEqual({ status: 'linked', account: 'alice' });
  });

  it('a provider time-out at the code exchange offers the same link again, which then links the account', async () => {
    const linkUrl = await newLink(h, 'acme', 'alice', {});
    const browser = inProcessBrowser(h);
    const callbackUrl = await browser.reachCallback(linkUrl);
    const timeoutMs = h.deps.http.timeoutMs;
    h.deps.http.timeoutMs = 300;
    h.sim.setFaults({ hang: ['token'] });

    const failed = await browser.open(callbackUrl);

    h.deps.http.timeoutMs = timeoutMs;
    h.sim.setFaults({ hang: undefined });
    await expectRetryPage(failed, linkUrl);
    expect((await browser.completeLink(linkUrl)).callback.status).toBe(200);
  });

  it("the provider's own temporarily_unavailable answer (RFC 6749 §4.1.2.1) offers the same link again", async () => {
    const linkUrl = await newLink(h, 'acme', 'alice', {});
    const browser = inProcessBrowser(h);
    h.sim.setFaults({ authorizeError: 'temporarily_unavailable' });
    const callbackUrl = await browser.reachCallback(linkUrl);
    h.sim.setFaults({ authorizeError: undefined });

    const failed = await browser.open(callbackUrl);

    await expectRetryPage(failed, linkUrl);
    expect((await browser.completeLink(linkUrl)).callback.status).toBe(200);
  });

  it('the store unreachable when the link would complete: the issued tokens are revoked upstream, nothing is linked, and the same link then links the account', async () => {
    const linkUrl = await newLink(h, 'acme', 'alice', {});
    const browser = inProcessBrowser(h);
    const callbackUrl = await browser.reachCallback(linkUrl);
    // the code exchange is held at the provider once processed; meanwhile the store becomes unreachable
    h.sim.holdTokenRequests('processed', { grantType: 'authorization_code' });
    const answered = browser.open(callbackUrl);
    const held = await h.sim.tokenRequestHeld();
    const store = h.deps.db;
    h.deps.db = createDb({ table: store.table, endpoint: 'http://127.0.0.1:9' });
    const revocationsBefore = h.sim.stats.revocations.length;

    await held.release();
    const failed = await answered;

    h.deps.db = store;
    await expectRetryPage(failed, linkUrl);
    expect(h.sim.stats.revocations.length).toBe(revocationsBefore + 1);
    expect(await getAccount(h.db, 'acme', 'alice')).toBeUndefined();
    expect((await browser.completeLink(linkUrl)).callback.status).toBe(200);
    expect(h.sim.stats.revocations).not.toContain((await storedTokens('alice')).refresh_token);
  });
});

describe('single use at completion', () => {
  it('a link completes one linking at most: of two flows from one link that both reach the callback, one links and the other is refused and its tokens are revoked upstream', async () => {
    const linkUrl = await newLink(h, 'acme', 'alice', {});
    const [first, second] = [inProcessBrowser(h), inProcessBrowser(h)];
    const callbacks = [await first.reachCallback(linkUrl), await second.reachCallback(linkUrl)];
    const revocationsBefore = h.sim.stats.revocations.length;

    const answers = await Promise.all([first.open(callbacks[0]!), second.open(callbacks[1]!)]);

    expect(answers.map((a) => a.status).sort()).toEqual([200, 400]);
    const refused = answers.find((a) => a.status === 400)!;
    expect(await refused.text()).toContain('already used');
    expect(h.sim.stats.codeGrants).toBe(2);
    const revoked = h.sim.stats.revocations.slice(revocationsBefore);
    expect(revoked).toHaveLength(1);
    const kept = await storedTokens('alice');
    expect(revoked).not.toContain(kept.refresh_token);
    expect((await fetch(`${h.sim.url}/v1/quote/get_security_list`, { headers: { authorization: `Bearer ${kept.access_token}` } })).status).toBe(200);
    expect(h.events.filter((e) => e.type === 'AccountLinked')).toHaveLength(1);
  });

  it('a flow that failed does not count: after a failed callback and a successful one, the link is used up', async () => {
    const linkUrl = await newLink(h, 'acme', 'alice', {});
    const browser = inProcessBrowser(h);
    const callbackUrl = await browser.reachCallback(linkUrl);
    h.sim.setFaults({ tokenStatus: 502, failCount: 1, retryAfterS: 0 });
    expect((await browser.open(callbackUrl)).status).toBe(503);
    expect((await browser.completeLink(linkUrl)).callback.status).toBe(200);

    const again = await browser.open(linkUrl);

    expect(again.status).toBe(400);
    expect(await again.text()).toContain('already used');
  });
});

describe('callback failures the end user cannot fix', () => {
  const callbackFailedLines = () => h.logs.filter((line) => (JSON.parse(line) as { CallbackFailed?: number }).CallbackFailed === 1);

  it('a callback that fails for a reason the end user cannot fix emits CallbackFailed (the metric of the CallbackFailures alarm); one that may pass does not', async () => {
    await h.close();
    h = await startHarness({ simulator: { clientType: 'confidential' } });
    await registerTenant(h, 'acme');
    const browser = inProcessBrowser(h);
    // a provider outage: the end user tries again
    const first = await browser.reachCallback(await newLink(h, 'acme', 'alice', {}));
    h.sim.setFaults({ tokenStatus: 503, failCount: 1, retryAfterS: 0 });
    expect((await browser.open(first)).status).toBe(503);
    expect(callbackFailedLines()).toEqual([]);
    // the provider rotated the client secret: every code exchange is refused (invalid_client) until the operator acts
    const second = await browser.reachCallback(await newLink(h, 'acme', 'bob', {}));
    h.sim.rotateClientSecret([...h.sim.clients.keys()][0]!);

    const broken = await browser.open(second);

    expect(broken.status).toBe(502);
    expect(callbackFailedLines()).toHaveLength(1);
  });
});
