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

/** The AWS SDK for JavaScript v3 ships in the Lambda Node.js runtime. */
export const EXTERNAL_MODULES = ['@aws-sdk/*'];

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
