/**
 * `npm run smoke -- --url <ApiUrl> [--region eu-west-1] [--tenant smoke-test] [--account smoke]`
 *
 * After a deploy: checks that the broker answers and that IAM authorization works, with the AWS
 * credentials of the shell (the SDK's default chain: AWS_PROFILE, SSO, environment, instance role).
 * It changes nothing and never prints token material.
 *
 *   1. GET /healthz answers 200 {"ok":true}
 *   2. GET /openapi.json answers 200 with an OpenAPI 3.1 document
 *   3. an unsigned GET …/token is refused with 403 by API Gateway (IAM is enforced)
 *   4. a signed GET …/token (the typed client, SigV4) reaches the broker: 200 for a linked account,
 *      404 or 409 for an unknown or unlinked one (the signature passed, the function answered)
 *
 * Exit code 0 when every check passed, 1 otherwise, 2 for bad arguments.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BrokerClientError, createBrokerClient } from '../client/index.js';

interface Check {
  name: string;
  run: () => Promise<string>;
}

const USAGE = 'usage: npm run smoke -- --url <ApiUrl> [--region <aws region>] [--tenant <id>] [--account <id>]';

export function regionOf(url: URL): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(url.hostname)?.[1];
}

export function smokeChecks(options: { url: string; region: string; tenant: string; account: string; fetch?: typeof globalThis.fetch }): Check[] {
  const base = options.url.replace(/\/+$/, '');
  const fetch = options.fetch ?? globalThis.fetch;
  const tokenPath = `/v1/tenants/${encodeURIComponent(options.tenant)}/accounts/${encodeURIComponent(options.account)}/token`;
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: await res.text() };
  };
  const expect = (ok: boolean, message: string) => {
    if (!ok) throw new Error(message);
  };
  return [
    {
      name: 'GET /healthz',
      run: async () => {
        const { status, body } = await get('/healthz');
        expect(status === 200 && JSON.parse(body).ok === true, `expected 200 {"ok":true}, got ${status} ${body.slice(0, 80)}`);
        return '200 {"ok":true}';
      },
    },
    {
      name: 'GET /openapi.json',
      run: async () => {
        const { status, body } = await get('/openapi.json');
        const doc = status === 200 ? (JSON.parse(body) as { openapi?: string; paths?: object }) : {};
        expect(status === 200 && /^3\.1\./.test(doc.openapi ?? ''), `expected 200 with an OpenAPI 3.1 document, got ${status}`);
        return `200, OpenAPI ${doc.openapi}, ${Object.keys(doc.paths ?? {}).length} paths`;
      },
    },
    {
      name: `unsigned GET ${tokenPath}`,
      run: async () => {
        const { status } = await get(tokenPath);
        expect(status === 403, `expected 403 from API Gateway (IAM authorization), got ${status}: the /v1 routes must not be reachable unsigned`);
        return '403 (IAM authorization enforced)';
      },
    },
    {
      name: `signed GET ${tokenPath}`,
      run: async () => {
        const client = createBrokerClient({ baseUrl: base, auth: { type: 'sigv4', region: options.region }, fetch, retry: { maxAttempts: 1 } });
        try {
          const token = await client.getToken(options.tenant, options.account);
          return `200, a token valid until ${token.expiresAt.toISOString()}`;
        } catch (err) {
          if (err instanceof BrokerClientError && (err.status === 404 || err.status === 409)) return `${err.status} ${err.error} (signature accepted, the broker answered)`;
          if (err instanceof BrokerClientError && err.status === 403) {
            throw new Error(`403 ${err.description}: your credentials may not invoke this route; grant them (docs/deploy.md, "The first admin") or check --region`);
          }
          throw err;
        }
      },
    },
  ];
}

async function main(): Promise<number> {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      options: { url: { type: 'string' }, region: { type: 'string' }, tenant: { type: 'string' }, account: { type: 'string' } },
      strict: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!values.url || !URL.canParse(values.url)) {
    console.error(USAGE);
    return 2;
  }
  const region = values.region ?? regionOf(new URL(values.url)) ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) {
    console.error(`cannot tell the region from ${values.url}: pass --region\n${USAGE}`);
    return 2;
  }
  const checks = smokeChecks({ url: values.url, region, tenant: values.tenant ?? 'smoke-test', account: values.account ?? 'smoke' });
  let failed = 0;
  for (const check of checks) {
    try {
      console.log(`ok    ${check.name}: ${await check.run()}`);
    } catch (err) {
      failed += 1;
      console.log(`FAIL  ${check.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  console.log(failed === 0 ? `smoke test passed (${checks.length} checks, region ${region})` : `smoke test failed: ${failed} of ${checks.length} checks`);
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => process.exit(code), (err) => {
    console.error(err);
    process.exit(1);
  });
}
