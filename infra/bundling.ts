import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';

/**
 * How every handler is built and run. The stack and the bundling test read these same constants,
 * so the size budget is measured on exactly what would be deployed.
 */

/** Project root: `functions/`, `package-lock.json` and `tsconfig.json` live here. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The newest Node.js runtime this aws-cdk-lib knows. cdk-nag (AwsSolutions-L1) requires the latest
 * runtime of the family, so bumping aws-cdk-lib may ask for a bump here (and of ESBUILD_TARGET).
 */
export const LAMBDA_RUNTIME = lambda.Runtime.NODEJS_24_X;
export const LAMBDA_ARCHITECTURE = lambda.Architecture.ARM_64;
export const ESBUILD_TARGET = 'node24';

/**
 * ESM bundles still meet CommonJS dependencies that call `require`: give them one. esbuild does
 * not see the banner's names when it names the bundle's own, so the import gets a name no module
 * of the broker uses (lib/aws-sdk.ts imports `createRequire` itself).
 */
export const ESM_REQUIRE_SHIM = "import { createRequire as createBundleRequire } from 'module'; const require = createBundleRequire(import.meta.url);";

/**
 * The AWS SDK for JavaScript v3 is never in a function bundle: the broker's code takes it from
 * lib/aws-sdk.ts, which in a bundle loads the broker's AWS SDK layer (below). Any other import of
 * the SDK stays external too, so a bundle test can see it.
 */
export const EXTERNAL_MODULES = ['@aws-sdk/*'];

/**
 * The package the broker's AWS SDK layer holds (`nodejs/node_modules/<name>/`, found by `require`
 * through Lambda's `NODE_PATH`): `index.js`, built from lib/aws-sdk-classes.ts, and `eventbridge.js`,
 * from lib/aws-sdk-eventbridge.ts (loaded on first use). Every function bundle names the modules a
 * `require` loads in place of `BROKER_AWS_SDK_PACKAGE` and `BROKER_AWS_SDK_EVENTBRIDGE` (lib/aws-sdk.ts).
 */
const AWS_SDK_PACKAGE = 'longport-broker-aws-sdk';
const EVENTBRIDGE_ENTRY = 'eventbridge';
const AWS_SDK_LAYER_ENTRIES = { index: join(PROJECT_ROOT, 'lib', 'aws-sdk-classes.ts'), [EVENTBRIDGE_ENTRY]: join(PROJECT_ROOT, 'lib', 'aws-sdk-eventbridge.ts') };
/** What a bundle `require`s: the package's main file, and EventBridge's. */
export const AWS_SDK_MODULES = { main: AWS_SDK_PACKAGE, eventBridge: `${AWS_SDK_PACKAGE}/${EVENTBRIDGE_ENTRY}` } as const;
const DEFINE = { BROKER_AWS_SDK_PACKAGE: JSON.stringify(AWS_SDK_MODULES.main), BROKER_AWS_SDK_EVENTBRIDGE: JSON.stringify(AWS_SDK_MODULES.eventBridge) };

/** Where a Node.js layer's packages go under its root (`/opt` once deployed: Lambda puts it on `NODE_PATH`). */
export const layerNodePath = (layerRoot: string): string => join(layerRoot, 'nodejs', 'node_modules');
/** Where the package goes under the layer's root. */
export const awsSdkLayerPackage = (layerRoot: string): string => join(layerNodePath(layerRoot), AWS_SDK_PACKAGE);

/**
 * The layer's build: each entry and exactly what its names need from the SDK packages (their ES
 * module builds, so esbuild can leave out what no name uses), minified, as a CommonJS file (a
 * `require` from the bundles; the SDK's own `require`s of Node.js built-ins stay as they are).
 * The clients' default credential chain is the environment's credentials alone
 * (lib/aws-lambda-credentials.ts), as Lambda provides them.
 */
export function awsSdkLayerBuild(layerRoot: string): BuildOptions {
  return {
    entryPoints: AWS_SDK_LAYER_ENTRIES,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: ESBUILD_TARGET,
    minify: true,
    sourcemap: false,
    keepNames: KEEP_NAMES,
    mainFields: ['module', 'main'],
    outdir: awsSdkLayerPackage(layerRoot),
    alias: { '@aws-sdk/credential-provider-node': join(PROJECT_ROOT, 'lib', 'aws-lambda-credentials.ts') },
    absWorkingDir: PROJECT_ROOT,
    logLevel: 'warning',
  };
}

const KEEP_NAMES = false;

/** Options for NodejsFunction. Local esbuild only: Docker is never used (see assertLocalEsbuild). */
export const BUNDLING: BundlingOptions = {
  externalModules: EXTERNAL_MODULES,
  format: OutputFormat.ESM,
  target: ESBUILD_TARGET,
  minify: true,
  // no source maps: the logs never carry stack traces (lib/log.ts logs an error's name, code and
  // message only), so a map would be dead weight in every zip, and enabling them
  // (NODE_OPTIONS=--enable-source-maps) slows every invocation that builds an Error
  sourceMap: false,
  // no keepNames: it costs every function about 10 KB (a name helper around each class and
  // function), and nothing reads minified names: the broker's errors carry literal names, and
  // provider errors are logged by what they mean (UpstreamFailure, UpstreamOAuthError; lib/errors.ts)
  keepNames: KEEP_NAMES,
  mainFields: ['module', 'main'],
  banner: ESM_REQUIRE_SHIM,
  define: DEFINE,
  forceDockerBundling: false,
  logLevel: LogLevel.WARNING,
};

/** The same build through esbuild's JS API (used by the bundling test). */
export function esbuildOptionsFor(entry: string): BuildOptions {
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: ESBUILD_TARGET,
    minify: true,
    sourcemap: false,
    keepNames: KEEP_NAMES,
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_SHIM },
    define: DEFINE,
    external: EXTERNAL_MODULES,
    outExtension: { '.js': '.mjs' },
    absWorkingDir: PROJECT_ROOT,
    logLevel: 'silent',
  };
}

/**
 * NodejsFunction silently falls back to a Docker build when it cannot find esbuild. No Docker
 * exists where this is synthesized, so a missing esbuild must fail here, naming the fix.
 */
export function assertLocalEsbuild(): void {
  try {
    createRequire(import.meta.url).resolve('esbuild');
  } catch {
    throw new Error('esbuild is not installed: run `npm ci` (it is a devDependency; Docker bundling is never used)');
  }
}
