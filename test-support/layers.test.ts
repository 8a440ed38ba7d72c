// The layering ARCHITECTURE.md describes, checked on every relative import in the repository:
// artifact/ and bootenv/ are leaves, client/ uses them, server-mock/ uses artifact/, qemu/ is
// the reference distro and never reaches into harness/, and no shipped module imports a test
// double (*.fake.ts), a testing/ helper or test-support/. A new import that breaks a rule fails
// here with the file, the import and the rule's reason.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { REPO_ROOT } from '../paths.js';

/** Repository-relative path of a source file → the repository-relative paths it imports. */
type ImportGraph = Map<string, string[]>;

interface Rule {
  /** Files this rule applies to (repository-relative path prefixes, or whole paths). */
  from: string[];
  /** What they must not import (prefixes). */
  forbid: string[];
  /** Only product modules (not tests, doubles or test helpers) are held to it. */
  productOnly?: boolean;
  why: string;
}

const ROOMS_UNDER_LEAVES = ['client/', 'harness/', 'qemu/', 'server-mock/', 'scenarios/', 'boards/'];

const RULES: Rule[] = [
  { from: ['qemu/'], forbid: ['harness/'], why: 'qemu/ is the reference distro; the QEMU driver is harness/drivers/qemu/' },
  {
    from: ['client/', 'artifact/', 'bootenv/', 'connect-protocol/'],
    forbid: ['harness/', 'qemu/', 'server-mock/', 'scenarios/'],
    why: 'the device updater and its libraries run on the device, without the lab or the server',
  },
  { from: ['artifact/', 'bootenv/', 'connect-protocol/'], forbid: ROOMS_UNDER_LEAVES, why: 'artifact/, bootenv/ and connect-protocol/ are leaf libraries: the client, server and lab use them, not the other way round' },
  { from: ['connect-protocol/'], forbid: ['artifact/', 'bootenv/'], productOnly: true, why: 'the leaf libraries stay independent' },
  { from: ['artifact/'], forbid: ['bootenv/'], productOnly: true, why: 'the two leaf libraries stay independent' },
  { from: ['bootenv/'], forbid: ['artifact/'], productOnly: true, why: 'the two leaf libraries stay independent' },
  { from: ['boards/', 'paths.ts'], forbid: [...ROOMS_UNDER_LEAVES.filter((r) => r !== 'boards/'), 'artifact/', 'bootenv/'], productOnly: true, why: 'the board schema and the paths module are data every room reads' },
  { from: ['server-mock/'], forbid: ['client/', 'harness/', 'qemu/', 'scenarios/'], productOnly: true, why: 'the reference server uses artifact/ and connect-protocol/ only (its tests may drive the real client)' },
];

/** Tests, doubles and test helpers: never shipped, never imported by what is. */
function isTestCode(path: string): boolean {
  return (
    /\.test\.[cm]?[jt]s$/.test(path) ||
    /\.fake\.[cm]?[jt]s$/.test(path) ||
    path.split('/').includes('testing') ||
    ['test-support/', 'bench/', 'ci/'].some((p) => path.startsWith(p))
  );
}

const matches = (path: string, prefixes: string[]) => prefixes.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p));

function violations(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const [file, imports] of graph) {
    for (const target of imports) {
      for (const r of RULES) {
        if (!matches(file, r.from) || !matches(target, r.forbid)) continue;
        if (r.productOnly && isTestCode(file)) continue;
        out.push(`${file} imports ${target}: ${r.why}`);
      }
      if (!isTestCode(file) && isTestCode(target)) out.push(`${file} imports ${target}: a shipped module must not import a test, double or test helper`);
    }
  }
  return out;
}

const SKIP = new Set(['node_modules', 'dist', 'reports', '.cache', '.git', 'fixtures']);
const SOURCE = /\.(ts|mts|mjs|js)$/;
// `from '…'` (imports and re-exports), `import('…')`, `import '…'`: relative specifiers only.
const SPECIFIER = /(?:\bfrom|\bimport)\s*\(?\s*(['"])(\.{1,2}\/[^'"]+)\1/g;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (SOURCE.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function repoImportGraph(root: string = REPO_ROOT): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const abs of sourceFiles(root)) {
    const file = relative(root, abs).split(sep).join('/');
    const targets: string[] = [];
    for (const m of readFileSync(abs, 'utf8').matchAll(SPECIFIER)) {
      const target = posix.normalize(posix.join(posix.dirname(file), m[2]!)).replace(/\.js$/, '.ts');
      if (!target.startsWith('../')) targets.push(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

test('the repository keeps its layers', (t) => {
  const graph = repoImportGraph();
  // The scan saw the rooms it checks (a wrong root would pass vacuously).
  for (const f of ['client/cli.ts', 'bootenv/uboot-env.ts', 'qemu/image/build.ts', 'harness/cli.ts', 'boards/schema.ts', 'paths.ts'])
    t.true(graph.has(f), `${f} scanned`);
  t.true(graph.get('client/device.ts')!.includes('bootenv/index.ts'), 'imports are resolved to repository paths');
  t.deepEqual(violations(graph), []);
});

test('each rule catches its violation', (t) => {
  const bad: ImportGraph = new Map([
    ['qemu/image/build.ts', ['harness/drivers/qemu/vm.ts']],
    ['qemu/image/layout.test.ts', ['harness/console/stream-console.ts']],
    ['client/device.ts', ['server-mock/admin-client.ts']],
    ['client/api/x.test.ts', ['harness/host-sim/board.ts']],
    ['bootenv/uboot-env.ts', ['client/test-hooks.ts']],
    ['artifact/reader.ts', ['bootenv/crc32.ts']],
    ['boards/load.ts', ['qemu/image/layout.ts']],
    ['server-mock/app.ts', ['client/api/client.ts']],
    ['harness/server/lab-server.ts', ['server-mock/testing/fixtures.ts']],
    ['harness/board/open-board.ts', ['harness/board/board.fake.ts']],
    ['client/cli.ts', ['test-support/shared-dir.ts']],
  ]);
  const found = violations(bad);
  for (const [file, [target]] of bad) t.true(found.some((v) => v.startsWith(`${file} imports ${target}:`)), `${file} → ${target} is caught`);
});

test('what stays allowed: tests may use doubles, the server tests may drive the client, harness uses everything', (t) => {
  const ok: ImportGraph = new Map([
    ['harness/doctor/doctor.test.ts', ['harness/doctor/target.fake.ts']],
    ['harness/doctor/target.fake.ts', ['bootenv/uboot-env-format.ts']],
    ['server-mock/client-api.test.ts', ['client/api/client.ts', 'server-mock/testing/fixtures.ts']],
    ['harness/board/qemu-board.ts', ['qemu/image/layout.ts', 'bootenv/grub-env.ts', 'boards/load.ts', 'harness/drivers/qemu/vm.ts']],
    ['client/device.ts', ['bootenv/index.ts', 'artifact/reader.ts']],
    ['qemu/image/build.ts', ['artifact/writer.ts', 'boards/load.ts', 'paths.ts']],
  ]);
  t.deepEqual(violations(ok), []);
});

test('test code is told from product code by its name or folder', (t) => {
  for (const p of ['a/b.test.ts', 'harness/console/board.fake.ts', 'server-mock/testing/fixtures.ts', 'test-support/shared-dir.ts', 'bench/run.ts'])
    t.true(isTestCode(p), p);
  for (const p of ['client/test-hooks.ts', 'harness/board/board.ts', 'server-mock/admin-client.ts', 'paths.ts']) t.false(isTestCode(p), p);
});
