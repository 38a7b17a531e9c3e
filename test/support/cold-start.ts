import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildAwsSdkLayer } from '../../infra/aws-sdk-layer.js';
import { awsSdkLayerPackage, layerNodePath, PROJECT_ROOT } from '../../infra/bundling.js';

/**
 * A Lambda cold start, as near as this machine gets: a fresh Node.js process with a deployed
 * function's environment (AWS mode, a bus, credentials from the environment) and the broker's AWS
 * SDK layer mounted as Lambda mounts a layer (its `nodejs/node_modules` on `NODE_PATH`), importing
 * a bundle. The bench times it; the bundling test reads what it loads.
 */
export const COLD_START_ENV: Readonly<Record<string, string>> = {
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  BROKER_MODE: 'aws',
  BROKER_TABLE_NAME: 'cold-start',
  BROKER_KMS_KEY_ID: 'arn:aws:kms:us-east-1:111122223333:key/cold-start',
  BROKER_PUBLIC_URL: 'https://api.example.com',
  BROKER_EVENT_BUS_NAME: 'cold-start',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDCOLDSTART',
  AWS_SECRET_ACCESS_KEY: 'cold-start',
};

const run = promisify(execFile);

let layerRoot: string | undefined;
/** The broker's AWS SDK layer, built once per process (test/.tmp/aws-sdk-layer): its root, `/opt` in Lambda. */
export function awsSdkLayerRoot(): string {
  layerRoot ??= buildAwsSdkLayer(join(PROJECT_ROOT, 'test', '.tmp', 'aws-sdk-layer'));
  return layerRoot;
}

/** The layer's main file, what a cold start loads. */
export const awsSdkLayerModule = (): string => join(awsSdkLayerPackage(awsSdkLayerRoot()), 'index.js');

/** Runs `script` (an ES module) in a fresh process with {@link COLD_START_ENV} and the layer; answers the last line it printed. */
export async function inFreshProcess(script: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH, ...COLD_START_ENV, NODE_PATH: layerNodePath(awsSdkLayerRoot()), ...env },
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
  });
  return stdout.trim().split('\n').pop()!;
}

/** `const t0 = …; await import(bundle); const t1 = …;`: a script's timed import of `bundle` (an absolute path). */
export const timedImport = (bundle: string): string => `const t0 = performance.now(); await import(${JSON.stringify(bundle)}); const t1 = performance.now();`;

/**
 * The CommonJS files that importing `bundle` loads: from node_modules (none, when the bundle holds
 * all but the SDK), and the layer's. Everything else is in the bundle.
 */
export async function filesLoadedBy(bundle: string): Promise<{ nodeModules: string[]; layer: string[] }> {
  const loaded = JSON.parse(
    await inFreshProcess(`import { createRequire } from 'node:module'; ${timedImport(bundle)} console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`),
  ) as string[];
  const layer = awsSdkLayerRoot();
  return { nodeModules: loaded.filter((f) => f.includes('/node_modules/') && !f.startsWith(layer)), layer: loaded.filter((f) => f.startsWith(layer)) };
}
