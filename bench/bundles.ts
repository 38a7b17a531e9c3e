import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { esbuildOptionsFor, PROJECT_ROOT } from '../infra/bundling.js';
import { awsSdkLayerModule, filesLoadedBy, inFreshProcess, timedImport } from '../test/support/cold-start.js';
import { median, round } from './stats.js';

/**
 * Cold-start cost of every Lambda: the size of its bundle (built exactly as the stack builds it;
 * the AWS SDK comes from the broker's layer, measured on its own) and its module init as Lambda
 * sees it — the time a fresh Node.js process with the layer mounted takes to import the bundle, SDK
 * loading included, median of a few runs — and of that, the broker code's own share (the import
 * once the layer is loaded).
 */
export async function measureBundles(runs = 5): Promise<{ bundle_kb: Record<string, number>; aws_sdk_layer_kb: number; init_ms: Record<string, number>; init_ms_broker_code: Record<string, number> }> {
  const outdir = join(PROJECT_ROOT, 'bench', '.tmp', 'bundles');
  await mkdir(outdir, { recursive: true });
  const names = (await readdir(join(PROJECT_ROOT, 'functions'))).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
  const bundle_kb: Record<string, number> = {};
  const init_ms: Record<string, number> = {};
  const init_ms_broker_code: Record<string, number> = {};
  for (const name of names) {
    const outfile = join(outdir, `${name}.mjs`);
    const options = esbuildOptionsFor(join(PROJECT_ROOT, 'functions', `${name}.ts`));
    await build({ ...options, outfile, outExtension: undefined });
    const code = await readFile(outfile, 'utf8');
    bundle_kb[name] = Math.round((Buffer.byteLength(code) / 1024) * 10) / 10;
    // a cold start: a fresh process imports the bundle, which loads the layer's AWS SDK at init
    // (lib/aws-sdk.ts); the broker code's own share: the same, once every file that this import
    // loaded besides the bundle (the layer's one file: nothing comes from node_modules) is in the
    // module cache already
    const loaded = await filesLoadedBy(outfile);
    const sdkFiles = [...loaded.nodeModules, ...loaded.layer];
    const total: number[] = [];
    const brokerCode: number[] = [];
    for (let i = 0; i < runs; i++) {
      total.push(Number(await inFreshProcess(`${timedImport(outfile)} console.log(t1 - t0);`)));
      brokerCode.push(Number(await inFreshProcess(`import { createRequire } from 'node:module'; const load = createRequire(import.meta.url); for (const f of ${JSON.stringify(sdkFiles)}) load(f); ${timedImport(outfile)} console.log(t1 - t0);`)));
    }
    init_ms[name] = round(median(total), 1);
    init_ms_broker_code[name] = round(median(brokerCode), 1);
  }
  const aws_sdk_layer_kb = Math.round(((await stat(awsSdkLayerModule())).size / 1024) * 10) / 10;
  return { bundle_kb, aws_sdk_layer_kb, init_ms, init_ms_broker_code };
}

