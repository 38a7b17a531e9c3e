/**
 * `npm run chaos`: the chaos suite with real processes (see chaos/scenarios.ts). Prints each fault,
 * what callers saw and what was lost as a table, writes it to chaos/results.md, and exits 1 when a
 * promise was not kept. `--only <name>` runs the scenarios whose name contains it.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { chaosTable, runChaos, SCENARIOS } from './scenarios.js';
import { registerTenant, startWorld } from './world.js';

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const scenarios = SCENARIOS.filter((s) => !values.only || s.name.includes(values.only));
const started = Date.now();
const progress = (line: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);

const world = await startWorld();
// Ctrl-C: stop every process the suite started before leaving
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void world.close().finally(() => process.exit(130)));
}
let failed = false;
try {
  progress(`broker on ${world.url} (process ${world.broker.pid}), store behind ${world.store.url}, provider ${world.sim.issuer}`);
  await registerTenant(world);
  const rows = await runChaos(world, scenarios, progress);
  const table = chaosTable(rows);
  const wallS = Math.round((Date.now() - started) / 1000);
  const kept = rows.filter((r) => r.kept).length;
  console.log(table);
  console.log(`\n${kept} of ${rows.length} promises kept; ${wallS} s`);
  await writeFile(new URL('./results.md', import.meta.url), `# Chaos suite: latest run (\`npm run chaos\`, ${wallS} s)\n\n${table}\n\n${kept} of ${rows.length} promises kept.\n`);
  failed = kept < rows.length;
} finally {
  await world.close();
}
process.exit(failed ? 1 : 0);
