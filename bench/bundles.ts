import { mkdir, readdir, stat } from 'node:fs/promises';
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
  const preloads: Record<string, string[]> = {};
  const outfileOf = (name: string) => join(outdir, `${name}.mjs`);
  for (const name of names) {
    const options = esbuildOptionsFor(join(PROJECT_ROOT, 'functions', `${name}.ts`));
    await build({ ...options, outfile: outfileOf(name), outExtension: undefined });
    bundle_kb[name] = await kbOf(outfileOf(name));
    // the files this bundle's import loads besides itself: the layer's main file (nothing comes
    // from node_modules), preloaded to time the broker code's own share
    const loaded = await filesLoadedBy(outfileOf(name));
    preloads[name] = [...loaded.nodeModules, ...loaded.layer];
  }
  // a cold start: a fresh process imports the bundle, which loads the layer's AWS SDK at init
  // (lib/aws-sdk.ts); the broker code's own share: the same, with the layer in the module cache
  // already. One run of every function in turn, `runs` times: a slow stretch of this shared machine
  // falls on all functions alike, not on the one whose runs it happens to meet.
  const total: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const brokerCode: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < runs; i++) {
    for (const name of names) {
      const file = outfileOf(name);
      total[name]!.push(Number(await inFreshProcess(`${timedImport(file)} console.log(t1 - t0);`)));
      brokerCode[name]!.push(Number(await inFreshProcess(`import { createRequire } from 'node:module'; const load = createRequire(import.meta.url); for (const f of ${JSON.stringify(preloads[name])}) load(f); ${timedImport(file)} console.log(t1 - t0);`)));
    }
  }
  for (const name of names) {
    init_ms[name] = round(median(total[name]!), 1);
    init_ms_broker_code[name] = round(median(brokerCode[name]!), 1);
  }
  return { bundle_kb, aws_sdk_layer_kb: await kbOf(awsSdkLayerModule()), init_ms, init_ms_broker_code };
}

/** A file's size in KiB, to a tenth. */
const kbOf = async (file: string): Promise<number> => round((await stat(file)).size / 1024, 1);

