import { resolve } from 'node:path';
import { parseCircular, parseDependencyTree } from 'dpdm';
import { describe, expect, it } from 'vitest';

/**
 * Rules about how the code base is put together, checked on the source itself. The import graph
 * comes from dpdm, which parses every module with the TypeScript compiler and, with `transform`,
 * drops the imports that the compiler erases (type-only ones): what remains is the graph that
 * Node.js and esbuild load at run time.
 */
const ROOT = resolve(import.meta.dirname, '..');

/** The import cycles among the modules under `folders` (relative to the repository root); run-time ones only unless `withTypes`. */
async function importCycles(folders: string[], { withTypes = false } = {}): Promise<string[][]> {
  const tree = await parseDependencyTree(
    folders.map((folder) => `${folder}/**/*.ts`),
    { cwd: ROOT, context: ROOT, tsconfig: resolve(ROOT, 'tsconfig.json'), transform: !withTypes },
  );
  return parseCircular(tree);
}

const runtimeImportCycles = (folders: string[]) => importCycles(folders);

describe('import cycles', () => {
  it('no run-time import cycle in lib/, functions/, infra/ or client/', async () => {
    const cycles = await runtimeImportCycles(['lib', 'functions', 'infra', 'client']);

    expect(cycles.map((cycle) => cycle.join(' → '))).toEqual([]);
  });

  it('the cycle check fails on a run-time import cycle (fixture)', async () => {
    const cycles = await runtimeImportCycles(['test/fixtures/import-cycles/run-time']);

    expect(cycles.map((cycle) => [...cycle].sort())).toEqual([['test/fixtures/import-cycles/run-time/ping.ts', 'test/fixtures/import-cycles/run-time/pong.ts']]);
  });

  it('the cycle check lets a cycle of type-only imports pass (fixture)', async () => {
    const cycles = await runtimeImportCycles(['test/fixtures/import-cycles/type-only']);

    expect(cycles).toEqual([]);
    // the fixture does hold a cycle, of types: counting type imports finds it
    expect(await importCycles(['test/fixtures/import-cycles/type-only'], { withTypes: true })).toHaveLength(1);
  });
});
