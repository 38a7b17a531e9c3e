import { execFileSync } from 'node:child_process';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { esbuildOptionsFor, PROJECT_ROOT } from '../infra/bundling.js';

/**
 * Cold-start cost of every Lambda: the size of its bundle (built exactly as the stack builds it,
 * AWS SDK external) and its module init as Lambda sees it — the time a fresh Node.js process takes
 * to import the bundle, median of a few runs. The same process first imports the AWS SDK packages
 * the bundle imports (the Lambda runtime provides them), so the figure splits into the SDK's share
 * and the broker code's own.
 */
export async function measureBundles(runs = 5): Promise<{ bundle_kb: Record<string, number>; init_ms: Record<string, number>; init_ms_broker_code: Record<string, number> }> {
  const outdir = join(PROJECT_ROOT, 'bench', '.tmp', 'bundles');
  await mkdir(outdir, { recursive: true });
  const names = (await readdir(join(PROJECT_ROOT, 'functions'))).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
  const bundle_kb: Record<string, number> = {};
  const init_ms: Record<string, number> = {};
  const init_ms_broker_code: Record<string, number> = {};
  for (const name of names) {
    const outfile = join(outdir, `${name}.mjs`);
    const options = esbuildOptionsFor(join(PROJECT_ROOT, 'functions', `${name}.ts`));
    const result = await build({ ...options, outfile, outExtension: undefined, metafile: true });
    bundle_kb[name] = Math.round(((await stat(outfile)).size / 1024) * 10) / 10;
    const sdk = [...new Set(Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external && i.path.startsWith('@aws-sdk/')).map((i) => i.path)))];
    const script = `const t0 = performance.now(); for (const m of ${JSON.stringify(sdk)}) await import(m); const t1 = performance.now(); await import(${JSON.stringify(outfile)}); const t2 = performance.now(); console.log(JSON.stringify([t2 - t0, t2 - t1]));`;
    const samples: [number, number][] = [];
    for (let i = 0; i < runs; i++) {
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
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
      samples.push(JSON.parse(out.trim().split('\n').pop()!) as [number, number]);
    }
    init_ms[name] = median(samples.map((s) => s[0]));
    init_ms_broker_code[name] = median(samples.map((s) => s[1]));
  }
  return { bundle_kb, init_ms, init_ms_broker_code };
}

const median = (values: number[]) => Math.round([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]! * 10) / 10;
