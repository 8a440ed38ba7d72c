// The shipped modules (bin/single-file, bin/directory, bin/script) driven through the runner for
// real, with dest_dir inside temp dirs; once more under busybox sh and applets, as on the image.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ModuleError } from './errors.js';
import { fileTreeExists } from './file-tree.js';
import { UpdateModuleInstaller } from './runner.js';
import { download, makeContext, makeHeaders, SHIPPED_MODULES, tempDir } from './testing/support.js';

const execFileAsync = promisify(execFile);
type Files = Array<{ name: string; data: Buffer }>;
const txt = (s: string) => Buffer.from(s);

/** Downloads `files` into a fresh installer for the shipped module `type`. */
async function prepared(t: ExecutionContext, type: string, files: Files, opts: { modulePath?: string; env?: Record<string, string> } = {}) {
  const work = join(await tempDir(t), 'work');
  const log: string[] = [];
  const ctx = makeContext(work, makeHeaders({ type, files }), log);
  const installer = new UpdateModuleInstaller({ modulePath: opts.modulePath ?? join(SHIPPED_MODULES, type), ctx, env: opts.env });
  await download(installer, files);
  return { installer, log };
}

/** Every file under `dir` with its content, for before/after comparisons. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    out[full.slice(dir.length + 1)] = e.isDirectory() ? '<dir>' : await readFile(full, 'utf8');
  }
  return out;
}

const mode = async (p: string) => (await stat(p)).mode & 0o777;

// ---- single-file -----------------------------------------------------------------------------

function singleFile(destDir: string, content: string, permissions?: string): Files {
  const files: Files = [
    { name: 'dest_dir', data: txt(`${destDir}\n`) },
    { name: 'filename', data: txt('app.conf\n') },
  ];
  if (permissions) files.push({ name: 'permissions', data: txt(`${permissions}\n`) });
  files.push({ name: 'app.conf', data: txt(content) });
  return files;
}

async function singleFileReplacesAndRollsBack(t: ExecutionContext, opts: { modulePath?: string; env?: Record<string, string> } = {}) {
  const dest = join(await tempDir(t), 'etc', 'app');
  await mkdir(dest, { recursive: true });
  await writeFile(join(dest, 'app.conf'), 'old\n', { mode: 0o644 });
  const { installer } = await prepared(t, 'single-file', singleFile(dest, 'new\n', '600'), opts);
  t.true(await installer.supportsRollback());
  t.is(await installer.needsReboot(), 'no');
  await installer.install();
  t.is(await readFile(join(dest, 'app.conf'), 'utf8'), 'new\n');
  t.is(await mode(join(dest, 'app.conf')), 0o600);
  await installer.rollback();
  t.is(await readFile(join(dest, 'app.conf'), 'utf8'), 'old\n');
  t.is(await mode(join(dest, 'app.conf')), 0o644);
  t.deepEqual(await readdir(dest), ['app.conf'], 'no .tmp left behind');
  await installer.failure();
  await installer.cleanup();
  t.false(await fileTreeExists(installer.treeDir));
}

test('single-file installs with its permissions and rolls back to the previous file', (t) => singleFileReplacesAndRollsBack(t));

test('single-file: no previous file, so rollback removes the installed one', async (t) => {
  const dest = join(await tempDir(t), 'new', 'dir');
  const { installer } = await prepared(t, 'single-file', singleFile(dest, 'fresh\n'));
  await installer.install();
  t.is(await readFile(join(dest, 'app.conf'), 'utf8'), 'fresh\n');
  await installer.rollback();
  t.deepEqual(await readdir(dest), []);
});

test('single-file: commit keeps the new file and Cleanup leaves only it', async (t) => {
  const dest = await tempDir(t);
  await writeFile(join(dest, 'app.conf'), 'old\n');
  const { installer } = await prepared(t, 'single-file', singleFile(dest, 'new\n'));
  await installer.install();
  await installer.commit();
  await installer.cleanup();
  t.deepEqual(await snapshot(dest), { 'app.conf': 'new\n' });
});

test('single-file: a repeated ArtifactInstall keeps the first backup, so rollback still restores the original', async (t) => {
  const dest = await tempDir(t);
  await writeFile(join(dest, 'app.conf'), 'original\n');
  const { installer } = await prepared(t, 'single-file', singleFile(dest, 'new\n'));
  await installer.install();
  await installer.install();
  await installer.rollback();
  t.is(await readFile(join(dest, 'app.conf'), 'utf8'), 'original\n');
});

test('single-file: a payload without filename fails ArtifactInstall with a reason and touches nothing', async (t) => {
  const dest = await tempDir(t);
  await writeFile(join(dest, 'app.conf'), 'old\n');
  const { installer } = await prepared(t, 'single-file', [{ name: 'dest_dir', data: txt(dest) }, { name: 'app.conf', data: txt('x') }]);
  const err = await t.throwsAsync(installer.install(), { instanceOf: ModuleError });
  t.is(err?.code, 'EXIT');
  t.true(err?.stderrTail.includes('filename is missing'));
  t.deepEqual(await snapshot(dest), { 'app.conf': 'old\n' });
});

// ---- directory -------------------------------------------------------------------------------

async function updateTar(t: ExecutionContext, files: Record<string, string>): Promise<Buffer> {
  const src = await tempDir(t);
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(join(src, rel, '..'), { recursive: true });
    await writeFile(join(src, rel), content);
  }
  const out = join(await tempDir(t), 'update.tar');
  await execFileAsync('tar', ['-cf', out, '-C', src, '.']);
  return readFile(out);
}

async function directoryReplacesAndRollsBack(t: ExecutionContext, opts: { modulePath?: string; env?: Record<string, string> } = {}) {
  const dest = join(await tempDir(t), 'opt', 'data');
  await mkdir(join(dest, 'keep', 'deep'), { recursive: true });
  await writeFile(join(dest, 'old.txt'), 'old');
  await writeFile(join(dest, 'keep', 'deep', 'x'), 'x');
  const before = await snapshot(dest);
  const tar = await updateTar(t, { 'a.txt': 'A', 'sub/b.txt': 'B' });
  const { installer } = await prepared(t, 'directory', [{ name: 'update.tar', data: tar }, { name: 'dest_dir', data: txt(`${dest}\n`) }], opts);
  t.true(await installer.supportsRollback());
  await installer.install();
  t.deepEqual(await snapshot(dest), { 'a.txt': 'A', sub: '<dir>', 'sub/b.txt': 'B' });
  await installer.rollback();
  t.deepEqual(await snapshot(dest), before);
  await installer.failure();
  await installer.cleanup();
  t.deepEqual(await readdir(join(dest, '..')), ['data'], 'no staging directory left');
}

test('directory replaces the contents of dest_dir and rolls back to exactly the old contents', (t) => directoryReplacesAndRollsBack(t));

test('directory: dest_dir did not exist, so rollback removes it', async (t) => {
  const parent = await tempDir(t);
  const dest = join(parent, 'newdir');
  const tar = await updateTar(t, { 'a.txt': 'A' });
  const { installer } = await prepared(t, 'directory', [{ name: 'update.tar', data: tar }, { name: 'dest_dir', data: txt(dest) }]);
  await installer.install();
  t.deepEqual(await snapshot(dest), { 'a.txt': 'A' });
  await installer.rollback();
  t.deepEqual(await readdir(parent), []);
});

test('directory refuses dest_dir "/"', async (t) => {
  const tar = await updateTar(t, { 'a.txt': 'A' });
  const { installer } = await prepared(t, 'directory', [{ name: 'update.tar', data: tar }, { name: 'dest_dir', data: txt('/\n') }]);
  const err = await t.throwsAsync(installer.install(), { instanceOf: ModuleError });
  t.is(err?.code, 'EXIT');
  t.true(err?.stderrTail.includes("destination dir is '/'"));
});

// ---- script ----------------------------------------------------------------------------------

test('script runs the payload files in name order during ArtifactInstall', async (t) => {
  const out = join(await tempDir(t), 'ran');
  const { installer } = await prepared(t, 'script', [
    { name: '02-second', data: txt(`#!/bin/sh\necho second >> '${out}'\n`) },
    { name: '01-first', data: txt(`#!/bin/sh\necho first >> '${out}'\n`) },
  ]);
  t.false(await installer.supportsRollback());
  t.is(await installer.needsReboot(), 'no');
  await installer.install();
  t.is(await readFile(out, 'utf8'), 'first\nsecond\n');
});

test('script with no files installs as a no-op; a failing script fails the install with its status', async (t) => {
  const empty = await prepared(t, 'script', []);
  await empty.installer.install();
  const failing = await prepared(t, 'script', [{ name: 'fail', data: txt('#!/bin/sh\necho broken >&2\nexit 5\n') }]);
  const err = await t.throwsAsync(failing.installer.install(), { instanceOf: ModuleError });
  t.is(err?.exitCode, 5);
  t.true(err?.stderrTail.includes('broken'));
});

// ---- protocol hygiene and busybox -------------------------------------------------------------

test('shipped modules print nothing and exit 0 for states they do not know', async (t) => {
  const tree = await tempDir(t);
  for (const m of ['single-file', 'directory', 'script']) {
    const { stdout, stderr } = await execFileAsync(join(SHIPPED_MODULES, m), ['SomeFutureState', tree], { cwd: tree });
    t.is(stdout + stderr, '', m);
  }
});

/** A PATH of busybox applets and a wrapper that runs a shipped module under busybox sh. */
async function busyboxModule(t: ExecutionContext, name: string): Promise<{ modulePath: string; env: Record<string, string> }> {
  const dir = await tempDir(t);
  const bin = join(dir, 'bin');
  await mkdir(bin);
  for (const applet of ['sh', 'cat', 'cp', 'mv', 'rm', 'mkdir', 'sync', 'chmod', 'dirname', 'basename', 'tar']) {
    await symlink('/usr/bin/busybox', join(bin, applet));
  }
  const modulePath = join(dir, name);
  await writeFile(modulePath, `#!/bin/sh\nexec '${bin}/sh' '${join(SHIPPED_MODULES, name)}' "$@"\n`);
  await chmod(modulePath, 0o755);
  return { modulePath, env: { PATH: bin } };
}

const hasBusybox = existsSync('/usr/bin/busybox');

(hasBusybox ? test : test.skip)('single-file under busybox sh and applets', async (t) =>
  singleFileReplacesAndRollsBack(t, await busyboxModule(t, 'single-file')),
);

(hasBusybox ? test : test.skip)('directory under busybox sh and applets', async (t) =>
  directoryReplacesAndRollsBack(t, await busyboxModule(t, 'directory')),
);
