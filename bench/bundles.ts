import { execFileSync } from 'node:child_process';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { esbuildOptionsFor, PROJECT_ROOT } from '../infra/bundling.js';

/**
 * Cold-start cost of every Lambda: the size of its bundle (built exactly as the stack builds it,
 * AWS SDK external) and the time a fresh Node.js process takes to import it (module init), median
 * of a few runs.
 */
export async function measureBundles(runs = 5): Promise<{ bundle_kb: Record<string, number>; init_ms: Record<string, number> }> {
  const outdir = join(PROJECT_ROOT, 'bench', '.tmp', 'bundles');
  await mkdir(outdir, { recursive: true });
  const names = (await readdir(join(PROJECT_ROOT, 'functions'))).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
  const bundle_kb: Record<string, number> = {};
  const init_ms: Record<string, number> = {};
  for (const name of names) {
    const outfile = join(outdir, `${name}.mjs`);
    const options = esbuildOptionsFor(join(PROJECT_ROOT, 'functions', `${name}.ts`));
    await build({ ...options, outfile, outExtension: undefined });
    bundle_kb[name] = Math.round(((await stat(outfile)).size / 1024) * 10) / 10;
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', `const t = performance.now(); await import(${JSON.stringify(outfile)}); console.log(performance.now() - t);`], {
        env: {
          PATH: process.env.PATH,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          BROKER_MODE: 'aws',
          BROKER_TABLE_NAME: 'bench',
          BROKER_KMS_KEY_ID: 'arn:aws:kms:us-east-1:111122223333:key/bench',
          BROKER_PUBLIC_URL: 'https://api.example.com',
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'AKIDBENCH',
          AWS_SECRET_ACCESS_KEY: 'bench',
        },
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
      });
      samples.push(Number(out.trim().split('\n').pop()));
    }
    samples.sort((a, b) => a - b);
    init_ms[name] = Math.round(samples[Math.floor(samples.length / 2)]! * 10) / 10;
  }
  return { bundle_kb, init_ms };
}
