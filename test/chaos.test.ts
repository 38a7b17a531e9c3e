/**
 * The chaos suite's scenarios under `npm test` (chaos/scenarios.ts; `npm run chaos` runs them all
 * and prints the table). Real processes: the broker as `npm start` runs it, killed with SIGKILL and
 * started again; the run's DynamoDB Local behind a TCP proxy that freezes it for 30 s; the
 * simulator taken down; a webhook that hangs; a broker with its own DynamoDB Local killed. Each
 * row whose promise main keeps (`ci`) is asserted; the table of every row goes to test/.tmp/chaos.md,
 * and the broker's log to test/.tmp/chaos-broker.log.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chaosTable, runChaos, SCENARIOS, type ChaosRow } from '../chaos/scenarios.js';
import { registerTenant, startWorld, type World } from '../chaos/world.js';
import { dynamoEndpoint } from './support/dynamo.js';

let world: World;
let rows: ChaosRow[] = [];
beforeAll(async () => {
  world = await startWorld({ dynamoEndpoint: dynamoEndpoint() });
  await registerTenant(world);
  rows = await runChaos(world, SCENARIOS);
  await mkdir(new URL('./.tmp/', import.meta.url), { recursive: true });
  await writeFile(new URL('./.tmp/chaos.md', import.meta.url), chaosTable(rows) + '\n');
  // what the broker processes logged, to read when a row is not kept
  await writeFile(new URL('./.tmp/chaos-broker.log', import.meta.url), world.brokerOutput());
}, 400_000);
afterAll(async () => {
  await world?.close();
});

describe('chaos: real faults lose nothing that was not already lost upstream', () => {
  it('every scenario ran and produced its rows', () => {
    expect(rows.map((r) => r.promise)).not.toContain('(the scenario could not run)');
    expect(rows.filter((r) => r.ci).length).toBeGreaterThanOrEqual(12);
  });

  it.each(SCENARIOS.map((s) => s.name))('%s: every promise main keeps is kept (nothing lost but what was lost upstream)', (name) => {
    const asserted = rows.filter((r) => r.ci && r.scenario === name);

    expect(asserted.length).toBeGreaterThanOrEqual(1);
    // the whole row in the failure message: the fault, what callers saw, what was lost
    for (const row of asserted) expect({ ...row, kept: row.kept }).toEqual({ ...row, kept: true });
  });
});
