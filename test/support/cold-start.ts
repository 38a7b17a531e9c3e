import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../infra/bundling.js';

/**
 * A Lambda cold start, as near as this machine gets: a fresh Node.js process with a deployed
 * function's environment (AWS mode, a bus, credentials from the environment), importing a bundle.
 * The bench times it; the bundling test reads what it loads.
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

/** Runs `script` (an ES module) in a fresh process with {@link COLD_START_ENV}; answers the last line it printed. */
export async function inFreshProcess(script: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH, ...COLD_START_ENV },
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
  });
  return stdout.trim().split('\n').pop()!;
}

/** `const t0 = …; await import(bundle); const t1 = …;`: a script's timed import of `bundle` (an absolute path). */
export const timedImport = (bundle: string): string => `const t0 = performance.now(); await import(${JSON.stringify(bundle)}); const t1 = performance.now();`;

/** The files from node_modules (the AWS SDK and what it uses: the rest is in the bundle) that importing `bundle` loads. */
export async function nodeModulesLoadedBy(bundle: string): Promise<string[]> {
  return JSON.parse(
    await inFreshProcess(
      `import { createRequire } from 'node:module'; ${timedImport(bundle)} console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache).filter((f) => f.includes('/node_modules/'))));`,
    ),
  ) as string[];
}

/** The packages (`@aws-sdk/client-kms`, …) among `files`. */
export const packagesOf = (files: string[]): string[] => [...new Set(files.map((f) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1]).filter((p): p is string => p !== undefined))].sort();
