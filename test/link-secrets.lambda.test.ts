/**
 * Issue 12 item 2: flow secrets at rest, through the real Lambda handlers in AWS mode (DynamoDB
 * Local, the fake KMS, the LongPort simulator). A copy of the table taken in the middle of a flow
 * holds no value that would let its holder start, complete or confirm a flow: no link id, no state,
 * no PKCE verifier, no flow-cookie value, no link_session id, no token.
 */
import * as oauth from 'oauth4webapi';
import { beforeAll, describe, expect, it } from 'vitest';
import { pkceVerifier } from '../lib/broker/linking-secrets.js';
import { secretHash } from '../lib/store/schema.js';
import type { Db } from '../lib/store/table.js';
import type { LongPortSimulator } from '../simulator/longport-simulator.js';
import type { Answer } from './support/apigw.js';
import { loginAtProvider, useLambdaDeployment } from './support/lambda-deployment.js';
import { tableText } from './support/linking.js';

const lambda = useLambdaDeployment();
const RETURN_ORIGIN = 'https://app.example.com';

let sim: LongPortSimulator;
let db: Db;
beforeAll(async () => {
  ({ sim, db } = await lambda.deploy({ clientType: 'confidential' }));
  return () => sim.close();
});

/** register (optionally with confirm_links) → link → /oauth/authorize, each through its function. */
async function startFlow(tenant: string, settings: Record<string, unknown> = {}) {
  const registered = await lambda.send('register', { method: 'PUT', url: `/v1/tenants/${tenant}`, body: { region: 'global', return_to_origins: [RETURN_ORIGIN], ...settings } });
  expect(registered.status).toBe(201);
  const link = await lambda.send('authorize', { method: 'POST', url: `/v1/tenants/${tenant}/accounts/alice/link`, body: { return_to: `${RETURN_ORIGIN}/linked` } });
  expect(link.status).toBe(201);
  const linkUrl = link.json<{ link_url: string }>().link_url;
  const authorize = await lambda.send('authorize', { method: 'GET', url: linkUrl, iam: null });
  expect(authorize.status).toBe(302);
  return { linkUrl, authorize };
}

const cookieValueOf = (authorize: Answer): string => {
  const [pair] = authorize.cookiePairs();
  return pair!.slice(pair!.indexOf('=') + 1);
};

describe('flow secrets at rest (AWS mode, through the Lambda handlers)', () => {
  it("a table scan after /oauth/authorize holds neither the state, the link id, the PKCE verifier nor the flow cookie's value", async () => {
    const { linkUrl, authorize } = await startFlow('acme');
    const providerUrl = new URL(authorize.location!);
    const state = providerUrl.searchParams.get('state')!;
    const linkId = new URL(linkUrl).searchParams.get('link')!;
    const cookie = cookieValueOf(authorize);
    const verifier = pkceVerifier(cookie, state);
    // the verifier looked for is the one this flow uses: its S256 challenge went to the provider
    expect(providerUrl.searchParams.get('code_challenge')).toBe(await oauth.calculatePKCECodeChallenge(verifier));

    const table = await tableText(db);

    for (const secret of [state, linkId, verifier, cookie, ...cookie.split('.')]) expect(table).not.toContain(secret);
    // what the table keys the flow by: hashes only
    expect(table).toContain(`STATE#${secretHash(state)}`);
    expect(table).toContain(`LINK#${secretHash(linkId)}`);
    // and the browser alone (its cookie, the provider's answer) still completes the flow
    const callback = await lambda.send('callback', { method: 'GET', url: await loginAtProvider(authorize.location!), cookies: authorize.cookiePairs(), iam: null });
    expect(callback.status).toBe(303);
    expect(new URL(callback.location!).searchParams.get('status')).toBe('linked');
  });

  it('a table scan while a confirmed link waits holds neither the link_session id nor a token of it', async () => {
    const { authorize } = await startFlow('conf', { confirm_links: true });
    const callback = await lambda.send('callback', { method: 'GET', url: await loginAtProvider(authorize.location!), cookies: authorize.cookiePairs(), iam: null });
    expect(callback.status).toBe(303);
    const back = new URL(callback.location!);
    expect(back.searchParams.get('status')).toBe('confirm');
    const linkSession = back.searchParams.get('link_session')!;

    const table = await tableText(db);

    expect(table).not.toContain(linkSession);
    expect(table).toContain(`LINKSESSION#${secretHash(linkSession)}`);
    // the waiting tokens: the access token the account serves once confirmed, the refresh token its unlink revokes
    const confirmed = await lambda.send('authorize', { method: 'POST', url: '/v1/tenants/conf/accounts/alice/link/confirm', body: { link_session: linkSession } });
    expect(confirmed.status).toBe(200);
    const token = await lambda.send('token', { method: 'GET', url: '/v1/tenants/conf/accounts/alice/token' });
    expect(token.status).toBe(200);
    const revokedBefore = sim.stats.revocations.length;
    expect((await lambda.send('accounts', { method: 'DELETE', url: '/v1/tenants/conf/accounts/alice' })).status).toBe(204);
    const [refreshToken] = sim.stats.revocations.slice(revokedBefore);
    expect(refreshToken).toMatch(/^rt_/);
    expect(table).not.toContain(token.json<{ access_token: string }>().access_token);
    expect(table).not.toContain(refreshToken);
  });
});
