// The device client's start-up snapshot and its launcher, on this machine's Node (the mechanism is
// the same as Node 18's in the image): which start the launcher picks when the snapshot is there,
// stale, damaged, refused by node or missing, and that every path runs the client exactly once.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDeviceBundle, bundleSourceOf } from './build-device.js';
import { launcherScript, SNAPSHOT_CHECK_NAME, SNAPSHOT_GC_CHECK_ENV, SNAPSHOT_NAME, snapshotBuildScript, snapshotFingerprint, unsupportedBuiltinsLoaded, type LauncherPaths } from './snapshot.js';
import { VERSION } from './version.js';

const root = await mkdtemp(join(tmpdir(), 'flipside-snapshot-test-'));
test.after.always(() => rm(root, { recursive: true, force: true }));

const fixture = (async () => {
  const bundle = await buildDeviceBundle(join(root, 'flipside.cjs'));
  const source = bundleSourceOf(await readFile(bundle, 'utf8')).source;
  const script = join(root, 'build.cjs');
  await writeFile(script, snapshotBuildScript(source));
  await writeFile(join(root, 'build-warm.cjs'), snapshotBuildScript(source, { loadCommands: true }));
  const make = (blob: string, flags: string[] = [], from = script) => {
    const r = spawnSync(process.execPath, [...flags, '--snapshot-blob', blob, '--build-snapshot', from], { encoding: 'utf8', cwd: root });
    if (r.status !== 0) throw new Error(`--build-snapshot: ${r.status} ${r.stderr}`);
    return r.stderr;
  };
  const stderr = make(join(root, 'good.snapshot'));
  // V8 refuses a snapshot made with other V8 flags (as one made for other CPU features), with an error exit.
  make(join(root, 'other-flags.snapshot'), ['--no-opt']);
  const warmStderr = make(join(root, 'warm.snapshot'), [], join(root, 'build-warm.cjs'));
  return { bundle, stderr, warmStderr };
})();

interface Device {
  dir: string;
  paths: LauncherPaths;
  launcher: string;
  /** Runs the launcher; FLIPSIDE_SNAPSHOT_DEBUG and the code cache's debug line say which start it took. */
  run(args: string[], env?: Record<string, string>): { status: number | null; stdout: string; stderr: string };
}

/** A device folder: bundle, a snapshot (good or made with other flags), check file, launcher. */
async function device(snapshot: 'good' | 'other-flags' | 'warm' = 'good'): Promise<Device> {
  const f = await fixture;
  const dir = await mkdtemp(join(root, 'device-'));
  await copyFile(f.bundle, join(dir, 'flipside.cjs'));
  await copyFile(join(root, `${snapshot}.snapshot`), join(dir, SNAPSHOT_NAME));
  // Stands for libnode: a file of node's build the launcher checks besides the executable.
  await writeFile(join(dir, 'libnode.so'), 'node build 1');
  const paths: LauncherPaths = { node: process.execPath, bundle: join(dir, 'flipside.cjs'), nodeFiles: [process.execPath, join(dir, 'libnode.so')], stateDir: join(dir, 'run') };
  await writeFile(join(dir, SNAPSHOT_CHECK_NAME), snapshotFingerprint(paths));
  const launcher = join(dir, 'flipside');
  await writeFile(launcher, launcherScript(paths), { mode: 0o755 });
  return {
    dir,
    paths,
    launcher,
    run: (args, env = {}) => {
      const { NODE_OPTIONS: _, ...rest } = process.env;
      const r = spawnSync('/bin/sh', [launcher, ...args], {
        encoding: 'utf8',
        env: { ...rest, FLIPSIDE_SNAPSHOT_DEBUG: '1', FLIPSIDE_CODE_CACHE_DIR: join(dir, 'cc'), FLIPSIDE_CODE_CACHE_DEBUG: '1', ...env },
        timeout: 120_000,
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

/** Which start the launcher took: the snapshot, or the bundle (through the code cache loader). */
function startedFrom(stderr: string): 'snapshot' | 'bundle' | 'both' {
  const snap = /flipside: start-up snapshot /.test(stderr);
  const bundle = /flipside: code cache \w+/.test(stderr);
  return snap && bundle ? 'both' : snap ? 'snapshot' : 'bundle';
}

test('the snapshot builds with no built-in it cannot hold, and starts the CLI with its arguments', async (t) => {
  const f = await fixture;
  t.deepEqual(unsupportedBuiltinsLoaded(f.stderr), []);
  const d = await device();
  const first = d.run(['--version']);
  t.is(first.status, 0, first.stderr);
  t.is(first.stdout.trim(), VERSION);
  t.regex(first.stderr, /start-up snapshot .*\(first start\)/);
  t.is(startedFrom(first.stderr), 'snapshot');
  t.true(existsSync(join(d.dir, 'run', 'snapshot.ok')), 'the first start from the snapshot leaves its verdict');
  const again = d.run(['--version']);
  t.is(again.stdout.trim(), VERSION);
  t.notRegex(again.stderr, /first start/);
  t.is(startedFrom(again.stderr), 'snapshot');
  // A command's own exit status comes back, and the client runs once (no second start from the bundle).
  for (const run of [() => d.run(['no-such-command']), async () => (await rm(join(d.dir, 'run'), { recursive: true }), d.run(['no-such-command']))]) {
    const r = await run();
    t.is(r.status, 1);
    t.regex(r.stderr, /unknown command 'no-such-command'/);
    t.is(startedFrom(r.stderr), 'snapshot');
    t.is(r.stderr.match(/unknown command/g)?.length, 1, r.stderr);
  }
  // The lazily loaded built-ins load after the start, without the snapshot builder's warning.
  const help = d.run(['--help']);
  t.regex(help.stdout, /\bdaemon\b/);
  t.notRegex(help.stderr, /not yet supported/);
});

test('with every command loaded in the snapshot: no built-in it cannot hold was loaded, and the CLI runs', async (t) => {
  const f = await fixture;
  t.deepEqual(unsupportedBuiltinsLoaded(f.warmStderr), [], f.warmStderr);
  const d = await device('warm');
  for (const args of [['--version'], ['--version']]) {
    const r = d.run(args);
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout.trim(), VERSION);
    t.is(startedFrom(r.stderr), 'snapshot');
  }
  const help = d.run(['--help']);
  t.regex(help.stdout, /\bshow-artifact\b/);
  t.notRegex(help.stderr, /not yet supported/);
});

test('a build that loads a built-in the snapshot must not hold (zlib: Node takes it, without a warning) fails and names it', (t) => {
  // A stand-in bundle whose top level requires zlib, as a module that destructured it would.
  const source = `(function (exports, require, module) { require('node:zlib'); exports.loadEveryCommand = async () => {}; exports.runMain = () => {}; })`;
  for (const loadCommands of [false, true]) {
    const script = join(root, `build-zlib-${loadCommands}.cjs`);
    writeFileSync(script, snapshotBuildScript(source, { loadCommands }));
    const r = spawnSync(process.execPath, ['--snapshot-blob', join(root, `zlib-${loadCommands}.snapshot`), '--build-snapshot', script], { encoding: 'utf8', cwd: root });
    t.not(r.status, 0, `loadCommands ${loadCommands}`);
    t.deepEqual(unsupportedBuiltinsLoaded(r.stderr), ['zlib'], r.stderr);
  }
});

test('the image builder\'s check: a start with FLIPSIDE_SNAPSHOT_GC_CHECK runs a full GC first, then the CLI', async (t) => {
  // Node 20's V8 leaves no stale pointer to find (Node 18's does: qemu/image/snapshot.ts runs this
  // under qemu-user); here: the check itself runs (gc reachable from the snapshot's main) and the
  // command after it is untouched, for both snapshots.
  for (const kind of ['good', 'warm'] as const) {
    const d = await device(kind);
    const r = d.run(['--version'], { [SNAPSHOT_GC_CHECK_ENV]: '1' });
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout.trim(), VERSION);
    t.is(startedFrom(r.stderr), 'snapshot');
  }
  // It is a full GC: with --trace-gc in the snapshot's own flags the start prints a Mark-Compact.
  const f = await fixture;
  const source = bundleSourceOf(await readFile(f.bundle, 'utf8')).source;
  const script = join(root, 'build-trace.cjs');
  await writeFile(script, snapshotBuildScript(source));
  const blob = join(root, 'trace.snapshot');
  const b = spawnSync(process.execPath, ['--trace-gc', '--snapshot-blob', blob, '--build-snapshot', script], { encoding: 'utf8', cwd: root });
  t.is(b.status, 0, b.stderr);
  const run = (env: Record<string, string>) => spawnSync(process.execPath, ['--trace-gc', '--snapshot-blob', blob, '--', '--version'], { encoding: 'utf8', env: { ...process.env, ...env } });
  t.regex(run({ [SNAPSHOT_GC_CHECK_ENV]: '1' }).stdout, /Mark-Compact/);
  t.notRegex(run({}).stdout, /Mark-Compact/, 'no full GC without the check');
});

test('stale or damaged: the bundle, the snapshot or node changed since the check file was written', async (t) => {
  for (const [what, change] of [
    ['the bundle', (d: Device) => writeFile(d.paths.bundle, '\n', { flag: 'a' })],
    ['the snapshot, one byte', async (d: Device) => {
      const b = await readFile(join(d.dir, SNAPSHOT_NAME));
      b[b.length >> 1] ^= 0x40;
      await writeFile(join(d.dir, SNAPSHOT_NAME), b);
    }],
    ['the snapshot, truncated', (d: Device) => truncate(join(d.dir, SNAPSHOT_NAME), 4096)],
    ['node', (d: Device) => writeFile(join(d.dir, 'libnode.so'), 'node build 2')],
  ] as const) {
    const d = await device();
    await change(d);
    const r = d.run(['--version']);
    t.is(r.status, 0, `${what}: ${r.stderr}`);
    t.is(r.stdout.trim(), VERSION, what);
    t.regex(r.stderr, /no start-up snapshot \(stale or damaged: /, what);
    t.is(startedFrom(r.stderr), 'bundle', what);
  }
});

test('missing, switched off, or NODE_OPTIONS set: the bundle', async (t) => {
  const d = await device();
  for (const [env, why] of [
    [{ FLIPSIDE_NO_SNAPSHOT: '1' }, 'FLIPSIDE_NO_SNAPSHOT is set'],
    [{ NODE_OPTIONS: '--max-old-space-size=100' }, 'NODE_OPTIONS is set'],
  ] as const) {
    const r = d.run(['--version'], env);
    t.is(r.stdout.trim(), VERSION);
    t.true(r.stderr.includes(`no start-up snapshot (${why})`), r.stderr);
    t.is(startedFrom(r.stderr), 'bundle');
  }
  await rm(join(d.dir, SNAPSHOT_CHECK_NAME));
  const r = d.run(['--version']);
  t.is(r.stdout.trim(), VERSION);
  t.regex(r.stderr, /no start-up snapshot \(no snapshot\)/);
  t.is(startedFrom(r.stderr), 'bundle');
});

test('refused by node (made for other V8 flags or CPU features): the bundle, once, for the rest of the boot', async (t) => {
  const d = await device('other-flags');
  const r = d.run(['--version']);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), VERSION, 'the client ran once, from the bundle');
  t.regex(r.stderr, /Failed to load the startup snapshot/);
  t.regex(r.stderr, /no start-up snapshot \(node refused it \(exit \d+\)\)/);
  t.true(existsSync(join(d.dir, 'run', 'snapshot.refused')));
  const again = d.run(['--version']);
  t.is(again.stdout.trim(), VERSION);
  t.regex(again.stderr, /no start-up snapshot \(node refused it before\)/);
  t.notRegex(again.stderr, /Failed to load the startup snapshot/, 'not tried again');
  t.is(startedFrom(again.stderr), 'bundle');
});

test('a snapshot damaged before its check file was written (what the check cannot see) does not stop the client', async (t) => {
  const d = await device();
  await truncate(join(d.dir, SNAPSHOT_NAME), 1 << 20);
  await writeFile(join(d.dir, SNAPSHOT_CHECK_NAME), snapshotFingerprint(d.paths));
  const r = d.run(['--version']);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), VERSION);
  t.regex(r.stderr, /no start-up snapshot \(node refused it/);
});

test('unsupportedBuiltinsLoaded reads the snapshot builder warnings and the build script\'s own lines', (t) => {
  t.deepEqual(unsupportedBuiltinsLoaded('(node:1) Warning: built-in module tty is not yet supported in user snapshots\nx\n(node:1) Warning: built-in module child_process is not yet supported in user snapshots'), ['tty', 'child_process']);
  t.deepEqual(unsupportedBuiltinsLoaded('flipside snapshot: built-in module zlib was loaded while the snapshot was built\n'), ['zlib']);
  t.deepEqual(unsupportedBuiltinsLoaded(''), []);
});
