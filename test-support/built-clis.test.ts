// bin/ runs the built CLI bundles (bin/build.js): each starts from its bundle, is rebuilt when a
// source is newer, and finds its assets (boards, scenarios) in the source tree.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../paths.js';
// @ts-expect-error plain JavaScript without type declarations
import { buildCli, bundlePath, CLIS, isStale } from '../bin/build.js';

const run = (name: string, args: string[]) => spawnSync(process.execPath, [join(REPO_ROOT, 'bin', `${name}.js`), ...args], { cwd: REPO_ROOT, encoding: 'utf8' });

for (const name of Object.keys(CLIS as Record<string, string>)) {
  test(`${name} --help runs from its bundle, which is then up to date`, (t) => {
    const r = run(name, ['--help']);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout + r.stderr, new RegExp(`(Usage|usage|${name})`));
    t.false((isStale as (n: string) => boolean)(name));
  });
}

test('--help to a pipe loads no child_process, nor the stream modules where commander prints it (patched at build)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-built-clis-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Reports through fs.writeSync: process.stderr would load the streams itself.
  const probe = join(dir, 'probe.cjs');
  writeFileSync(probe, "process.on('exit', () => require('fs').writeSync(2, `child_process: ${process.moduleLoadList.includes('NativeModule child_process')} stream: ${process.moduleLoadList.includes('NativeModule stream')}\\n`));\n");
  for (const name of Object.keys(CLIS as Record<string, string>)) {
    const r = spawnSync(process.execPath, ['-r', probe, join(REPO_ROOT, 'bin', `${name}.js`), '--help'], { cwd: dir, encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /Usage|USAGE/, `${name} --help printed no usage`);
    // flipside-artifact prints its own usage through process.stdout (no commander).
    t.regex(r.stderr, name === 'flipside-artifact' ? /child_process: false/ : /child_process: false stream: false/, `${name} --help`);
  }
});

test('a command loads its own chunks from disk and shares the start-up chunks built into the entry', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-built-clis-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  run('flipside-lab', ['--help']);
  const entry = readFileSync((bundlePath as (n: string) => string)('flipside-lab'), 'utf8');
  const embedded = [...entry.matchAll(/__flipsideEmbedded\.define\("chunks\/([^"]+)"/g)].map((m) => m[1]!);
  t.true(embedded.length > 0, 'no chunk built into the entry');
  // Every file Node's loader compiles, reported at exit.
  const probe = join(dir, 'probe.cjs');
  writeFileSync(
    probe,
    "const M = require('module'); const c = M.prototype._compile; const seen = [];\n" +
      'M.prototype._compile = function (s, f) { seen.push(f); return c.call(this, s, f); };\n' +
      "process.on('exit', () => require('fs').writeSync(2, `compiled: ${JSON.stringify(seen)}\\n`));\n",
  );
  const r = spawnSync(process.execPath, ['-r', probe, join(REPO_ROOT, 'bin', 'flipside-lab.js'), 'list'], { cwd: dir, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /happy-path/);
  const compiled = (JSON.parse(/compiled: (.*)/.exec(r.stderr)![1]!) as string[]).filter((f) => f.includes(join('dist', 'cli', 'chunks'))).map((f) => f.split(/[\\/]/).pop()!);
  t.true(compiled.length > 0, 'list loaded no chunk of its own');
  t.deepEqual(compiled.filter((f) => embedded.includes(f)), [], 'a start-up chunk was loaded a second time from disk');
});

test('a bundle is stale once one of its sources is newer than it, and fresh again when not', (t) => {
  const name = 'flipside-artifact';
  run(name, ['--help']);
  t.false((isStale as (n: string) => boolean)(name));
  const source = join(REPO_ROOT, 'artifact', 'errors.ts');
  const { atime, mtime } = statSync(source);
  t.teardown(() => utimesSync(source, atime, mtime));
  const bundle = statSync((bundlePath as (n: string) => string)(name)).mtimeMs;
  utimesSync(source, atime, new Date(bundle + 1000));
  t.true((isStale as (n: string) => boolean)(name));
  utimesSync(source, atime, mtime);
  t.false((isStale as (n: string) => boolean)(name));
});

test('flipside-lab list from the bundle finds boards/ and scenarios/ in the source tree', (t) => {
  const r = run('flipside-lab', ['list']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /happy-path/);
  t.regex(r.stdout, /qemu-aarch64/);
});

test('a bundle is dated when its build started, so a source saved during the build makes it stale', async (t) => {
  const before = Date.now();
  await (buildCli as (n: string) => Promise<void>)('flipside-artifact');
  const after = Date.now();
  const dated = statSync((bundlePath as (n: string) => string)('flipside-artifact')).mtimeMs;
  t.true(dated >= before - 1000 && dated <= after, `bundle mtime ${dated} outside ${before}..${after}`);
  // Its record of inputs is written at the end: the bundle's date is the earlier one.
  t.true(dated < statSync(join(REPO_ROOT, 'dist', 'cli', 'flipside-artifact.inputs.json')).mtimeMs);
  t.false((isStale as (n: string) => boolean)('flipside-artifact'));
});
