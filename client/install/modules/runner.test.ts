import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ModuleError } from './errors.js';
import { fileTreeExists } from './file-tree.js';
import { UpdateModuleInstaller } from './runner.js';
import {
  chunked,
  download,
  entryFor,
  fakeModule,
  makeContext,
  makeHeaders,
  sha256,
  streamingDownload,
  tempDir,
} from './testing/support.js';

const FILE = { name: 'payload.bin', data: Buffer.from('hello module\n') };

async function setup(t: ExecutionContext, cases: Record<string, string> = {}, timeoutMs?: number) {
  const dir = await tempDir(t);
  const mod = await fakeModule(dir, cases);
  const log: string[] = [];
  const ctx = makeContext(join(dir, 'work'), makeHeaders({ type: 'fake', files: [FILE] }), log);
  const installer = new UpdateModuleInstaller({ modulePath: mod.path, ctx, stateTimeoutMs: timeoutMs });
  return { dir, mod, log, ctx, installer };
}

/** Dead or a zombie (PID 1 of a container may never reap the orphan). */
async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function isModuleError(e: unknown, code: string, state: string): boolean {
  return e instanceof ModuleError && e.code === code && e.state === state;
}

// ---- findModule ------------------------------------------------------------------------------

test('findModule returns <dir>/<type> for an executable file', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'single-file'), '#!/bin/sh\n');
  await chmod(join(dir, 'single-file'), 0o755);
  t.is(UpdateModuleInstaller.findModule(dir, 'single-file'), join(dir, 'single-file'));
});

test('findModule names the path when the module is missing, not executable, or the type is not a name', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'noexec'), '#!/bin/sh\n');
  await chmod(join(dir, 'noexec'), 0o644);
  const missing = t.throws(() => UpdateModuleInstaller.findModule(dir, 'rootfs-image'), { instanceOf: ModuleError });
  t.is(missing?.code, 'NOT_FOUND');
  t.true(missing?.message.includes(join(dir, 'rootfs-image')));
  const noexec = t.throws(() => UpdateModuleInstaller.findModule(dir, 'noexec'), { instanceOf: ModuleError });
  t.is(noexec?.code, 'NOT_EXECUTABLE');
  t.true(noexec?.message.includes(join(dir, 'noexec')));
  t.is(t.throws(() => UpdateModuleInstaller.findModule(dir, '../noexec'), { instanceOf: ModuleError })?.code, 'NOT_FOUND');
  t.is(t.throws(() => UpdateModuleInstaller.findModule(dir, ''), { instanceOf: ModuleError })?.code, 'NOT_FOUND');
  // A directory is not a module either.
  t.is(t.throws(() => UpdateModuleInstaller.findModule(join(dir, '..'), dir.split('/').pop()!), { instanceOf: ModuleError })?.code, 'NOT_FOUND');
});

// ---- call sequences --------------------------------------------------------------------------

test('install and commit without reboot: exact call sequence, files/ for a module that does not stream', async (t) => {
  const { mod, installer, dir } = await setup(t, {
    NeedsArtifactReboot: '    echo No',
    SupportsRollback: '    echo Yes',
    ArtifactInstall: `    cp "$2/files/payload.bin" "$2/../../../../installed"; pwd > "$2/../../../../cwd"; echo "$2" > "$2/../../../../arg2"`,
  });
  await download(installer, [FILE]);
  await installer.install();
  t.is(await installer.needsReboot(), 'no');
  t.true(await installer.supportsRollback());
  await installer.commit();
  t.true(await fileTreeExists(installer.treeDir));
  await installer.cleanup();
  t.deepEqual(await mod.calls(), [
    'ProvidePayloadFileSizes',
    'Download',
    'ArtifactInstall',
    'NeedsArtifactReboot',
    'SupportsRollback',
    'ArtifactCommit',
    'Cleanup',
  ]);
  t.deepEqual(await readFile(join(dir, 'installed')), FILE.data);
  // Run in the tree, with its absolute path as the second argument.
  t.is((await readFile(join(dir, 'cwd'), 'utf8')).trim(), installer.treeDir);
  t.is((await readFile(join(dir, 'arg2'), 'utf8')).trim(), installer.treeDir);
  t.false(await fileTreeExists(installer.treeDir), 'Cleanup removes the tree');
});

test('install with reboot: ArtifactReboot, ArtifactVerifyReboot, then commit', async (t) => {
  const { mod, installer } = await setup(t, { NeedsArtifactReboot: '    echo Yes' });
  await download(installer, [FILE]);
  await installer.install();
  t.is(await installer.needsReboot(), 'yes');
  await installer.reboot();
  await installer.verifyReboot();
  await installer.commit();
  await installer.cleanup();
  t.deepEqual(await mod.calls(), [
    'ProvidePayloadFileSizes',
    'Download',
    'ArtifactInstall',
    'NeedsArtifactReboot',
    'ArtifactReboot',
    'ArtifactVerifyReboot',
    'ArtifactCommit',
    'Cleanup',
  ]);
});

test('NeedsArtifactReboot: Automatic and no answer map to automatic and no', async (t) => {
  const a = await setup(t, { NeedsArtifactReboot: '    echo Automatic' });
  await download(a.installer, [FILE]);
  t.is(await a.installer.needsReboot(), 'automatic');
  const b = await setup(t);
  await download(b.installer, [FILE]);
  t.is(await b.installer.needsReboot(), 'no');
  t.false(await b.installer.supportsRollback(), 'no answer to SupportsRollback means No');
});

test('failure in ArtifactInstall: typed error, then ArtifactRollback, ArtifactFailure, Cleanup', async (t) => {
  const { mod, installer, log } = await setup(t, {
    SupportsRollback: '    echo Yes',
    ArtifactInstall: '    echo "installing now"; echo "disk on fire" >&2; exit 3',
  });
  await download(installer, [FILE]);
  const err = await t.throwsAsync(installer.install(), { instanceOf: ModuleError });
  t.is(err?.code, 'EXIT');
  t.is(err?.state, 'ArtifactInstall');
  t.is(err?.exitCode, 3);
  t.true(err?.stderrTail.includes('disk on fire'));
  t.true(log.includes('Update Module ArtifactInstall (stdout): installing now'));
  t.true(log.includes('Update Module ArtifactInstall (stderr): disk on fire'));
  t.true(await installer.supportsRollback());
  await installer.rollback();
  await installer.failure();
  await installer.cleanup();
  t.deepEqual(await mod.calls(), [
    'ProvidePayloadFileSizes',
    'Download',
    'ArtifactInstall',
    'SupportsRollback',
    'ArtifactRollback',
    'ArtifactFailure',
    'Cleanup',
  ]);
});

test('failure with a module that does not support rollback: ArtifactFailure and Cleanup only', async (t) => {
  const { mod, installer } = await setup(t, { SupportsRollback: '    echo No', ArtifactInstall: '    exit 1' });
  await download(installer, [FILE]);
  await t.throwsAsync(installer.install(), { instanceOf: ModuleError });
  t.false(await installer.supportsRollback());
  await installer.failure();
  await installer.cleanup();
  t.deepEqual(await mod.calls(), ['ProvidePayloadFileSizes', 'Download', 'ArtifactInstall', 'SupportsRollback', 'ArtifactFailure', 'Cleanup']);
});

test('failed reboot verification rolls back with ArtifactRollbackReboot and ArtifactVerifyRollbackReboot', async (t) => {
  const { mod, installer } = await setup(t, {
    NeedsArtifactReboot: '    echo Yes',
    SupportsRollback: '    echo Yes',
    ArtifactVerifyReboot: '    exit 2',
  });
  await download(installer, [FILE]);
  await installer.install();
  t.is(await installer.needsReboot(), 'yes');
  await installer.reboot();
  t.is((await t.throwsAsync(installer.verifyReboot(), { instanceOf: ModuleError }))?.state, 'ArtifactVerifyReboot');
  t.true(await installer.supportsRollback());
  await installer.rollback();
  await installer.rollbackReboot();
  await installer.verifyRollbackReboot();
  await installer.failure();
  await installer.cleanup();
  t.deepEqual((await mod.calls()).slice(3), [
    'NeedsArtifactReboot',
    'ArtifactReboot',
    'ArtifactVerifyReboot',
    'SupportsRollback',
    'ArtifactRollback',
    'ArtifactRollbackReboot',
    'ArtifactVerifyRollbackReboot',
    'ArtifactFailure',
    'Cleanup',
  ]);
});

test('queries: an unknown answer or a second line is a PROTOCOL error', async (t) => {
  const a = await setup(t, { NeedsArtifactReboot: '    echo Maybe', SupportsRollback: '    echo Yes; echo Yes' });
  await download(a.installer, [FILE]);
  const e1 = await t.throwsAsync(a.installer.needsReboot(), { instanceOf: ModuleError });
  t.is(e1?.code, 'PROTOCOL');
  t.true(e1?.message.includes('"Maybe"'));
  t.is((await t.throwsAsync(a.installer.supportsRollback(), { instanceOf: ModuleError }))?.code, 'PROTOCOL');
});

// ---- streaming -------------------------------------------------------------------------------

test('streaming download: 2 files through named pipes, byte-exact, then the empty end marker', async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, 'out');
  const mod = await fakeModule(dir, { Download: streamingDownload(out) });
  // Larger than a pipe buffer many times over, so backpressure is exercised.
  const files = [
    { name: 'rootfs.img', data: randomBytes(3 * 1024 * 1024 + 17) },
    { name: 'extra.bin', data: randomBytes(200_000) },
  ];
  const ctx = makeContext(join(dir, 'work'), makeHeaders({ type: 'fake', files }));
  const installer = new UpdateModuleInstaller({ modulePath: mod.path, ctx });
  await download(installer, files);
  for (const f of files) t.is(sha256(await readFile(join(out, f.name))), sha256(f.data));
  t.deepEqual((await readFile(join(out, 'next-lines'), 'utf8')).split('\n'), [
    'next:streams/rootfs.img',
    'next:streams/extra.bin',
    'next:',
    '',
  ]);
  t.false(await fileTreeExists(join(installer.treeDir, 'files')), 'no files/ when the module streamed');
  await installer.install();
  t.deepEqual(await mod.calls(), ['ProvidePayloadFileSizes', 'Download', 'ArtifactInstall']);
});

test('ProvidePayloadFileSizes Yes: DownloadWithFileSizes and "streams/<name> <size>" lines', async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, 'out');
  const mod = await fakeModule(dir, { ProvidePayloadFileSizes: '    echo Yes', DownloadWithFileSizes: streamingDownload(out) });
  const files = [{ name: 'a', data: randomBytes(1000) }, { name: 'b', data: Buffer.alloc(0) }];
  const ctx = makeContext(join(dir, 'work'), makeHeaders({ type: 'fake', files }));
  const installer = new UpdateModuleInstaller({ modulePath: mod.path, ctx });
  await download(installer, files);
  t.deepEqual((await readFile(join(out, 'next-lines'), 'utf8')).split('\n'), ['next:streams/a 1000', 'next:streams/b 0', 'next:', '']);
  t.deepEqual(await readFile(join(out, 'a')), files[0]!.data);
  t.is((await readFile(join(out, 'b'))).length, 0);
  t.deepEqual(await mod.calls(), ['ProvidePayloadFileSizes', 'DownloadWithFileSizes']);
});

test('a payload without files: a streaming module reads only the end marker', async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, 'out');
  const mod = await fakeModule(dir, { Download: streamingDownload(out) });
  const ctx = makeContext(join(dir, 'work'), makeHeaders({ type: 'fake' }));
  const installer = new UpdateModuleInstaller({ modulePath: mod.path, ctx });
  await download(installer, []);
  t.is(await readFile(join(out, 'next-lines'), 'utf8'), 'next:\n');
});

test('a payload without files and a module that does not stream: Download runs, no files/', async (t) => {
  const { mod, installer } = await setup(t);
  await download(installer, []);
  t.deepEqual(await mod.calls(), ['ProvidePayloadFileSizes', 'Download']);
  t.deepEqual((await readdir(installer.treeDir)).sort(), ['current_artifact_group', 'current_artifact_name', 'current_device_type', 'header', 'tmp', 'version']);
});

test('files mode: stream-next and streams/ are gone and every file is under files/', async (t) => {
  const { installer } = await setup(t);
  const files = [FILE, { name: 'second', data: randomBytes(300_000) }];
  await download(installer, files);
  t.deepEqual((await readdir(join(installer.treeDir, 'files'))).sort(), ['payload.bin', 'second']);
  t.deepEqual(await readFile(join(installer.treeDir, 'files', 'second')), files[1]!.data);
  t.false(await fileTreeExists(join(installer.treeDir, 'streams')));
  await t.throwsAsync(readFile(join(installer.treeDir, 'stream-next')), { code: 'ENOENT' });
});

test('a module that exits mid-stream fails the download with STREAM, without hanging', async (t) => {
  const dir = await tempDir(t);
  const mod = await fakeModule(dir, {
    Download: '    line=$(cat stream-next); head -c 1000 "$line" > /dev/null; exit 0',
  });
  const big = Buffer.alloc(8 * 1024 * 1024, 7);
  const ctx = makeContext(join(dir, 'work'), makeHeaders({ type: 'fake', files: [{ name: 'big', data: big }] }));
  const installer = new UpdateModuleInstaller({ modulePath: mod.path, ctx });
  const err = await t.throwsAsync(installer.storeFile(entryFor('big', big), chunked(big)), { instanceOf: ModuleError });
  t.is(err?.code, 'STREAM');
  t.is(err?.state, 'Download');
});

test('a module that exits 0 before the end marker fails with STREAM ("did not finish")', async (t) => {
  const dir = await tempDir(t);
  const mod = await fakeModule(dir, { Download: '    line=$(cat stream-next); cat "$line" > /dev/null; exit 0' });
  const files = [FILE, { name: 'two', data: Buffer.from('2') }];
  const ctx = makeContext(join(dir, 'work'), makeHeaders({ type: 'fake', files }));
  const installer = new UpdateModuleInstaller({ modulePath: mod.path, ctx });
  await installer.storeFile(entryFor(FILE.name, FILE.data), chunked(FILE.data));
  const err = await t.throwsAsync(installer.storeFile(entryFor('two', files[1]!.data), chunked(files[1]!.data)), { instanceOf: ModuleError });
  t.is(err?.code, 'STREAM');
  t.true(err?.message.includes('before the end of the stream'));
});

test('Download exiting non-zero is an EXIT error of Download', async (t) => {
  const { installer } = await setup(t, { Download: '    echo "no space" >&2; exit 4' });
  const err = await t.throwsAsync(download(installer, [FILE]), { instanceOf: ModuleError });
  t.true(isModuleError(err, 'EXIT', 'Download'));
  t.is(err?.exitCode, 4);
  t.true(err?.stderrTail.includes('no space'));
});

test('a payload stream that fails mid-way kills the streaming module and rejects', async (t) => {
  const dir = await tempDir(t);
  const mod = await fakeModule(dir, { Download: streamingDownload(join(dir, 'out')) + `\n    echo finished > '${dir}/finished'` });
  const ctx = makeContext(join(dir, 'work'), makeHeaders({ type: 'fake', files: [FILE] }));
  const installer = new UpdateModuleInstaller({ modulePath: mod.path, ctx });
  const broken = new Readable({
    read() {
      this.push(Buffer.alloc(1000));
      this.destroy(new Error('network gone'));
    },
  });
  const err = await t.throwsAsync(installer.storeFile(entryFor('x', Buffer.alloc(5000)), broken), { instanceOf: ModuleError });
  t.true(isModuleError(err, 'STREAM', 'Download'));
  t.true(err?.message.includes('network gone'));
  await t.throwsAsync(readFile(join(dir, 'finished')), { code: 'ENOENT' });
});

// ---- timeouts --------------------------------------------------------------------------------

test('a state that runs past the timeout is killed with its whole process group', async (t) => {
  const { installer, dir } = await setup(t, { ArtifactInstall: `    sleep 30 & echo $! > "$2/../../../../child"; wait` }, 400);
  await download(installer, [FILE]);
  const started = Date.now();
  const err = await t.throwsAsync(installer.install(), { instanceOf: ModuleError });
  t.true(isModuleError(err, 'TIMEOUT', 'ArtifactInstall'));
  t.true(Date.now() - started < 5000);
  const child = Number(await readFile(join(dir, 'child'), 'utf8'));
  await new Promise((r) => setTimeout(r, 100));
  t.false(await isAlive(child), 'the sleep the module started is gone too');
});

test('a Download that never reads nor exits times out', async (t) => {
  const { installer } = await setup(t, { Download: '    sleep 30' }, 400);
  const err = await t.throwsAsync(download(installer, [FILE]), { instanceOf: ModuleError });
  t.true(isModuleError(err, 'TIMEOUT', 'Download'));
});

// ---- recovery and guards ---------------------------------------------------------------------

test('recovery: a new runner over the same work dir continues with ArtifactCommit and Cleanup', async (t) => {
  const { mod, ctx, installer } = await setup(t, { ArtifactCommit: `    cat "$2/files/payload.bin" > "$2/../committed-copy"` });
  await download(installer, [FILE]);
  await installer.install();
  // The client is killed here; a new process builds a new runner from stored state.
  const restarted = new UpdateModuleInstaller({ modulePath: mod.path, ctx: { ...ctx } });
  t.is(restarted.treeDir, installer.treeDir);
  await restarted.commit();
  t.deepEqual(await readFile(join(restarted.treeDir, '..', 'committed-copy')), FILE.data);
  await restarted.cleanup();
  t.deepEqual(await mod.calls(), ['ProvidePayloadFileSizes', 'Download', 'ArtifactInstall', 'ArtifactCommit', 'Cleanup']);
  t.false(await fileTreeExists(restarted.treeDir));
});

test('states other than Cleanup need the tree: NO_TREE; Cleanup without a tree is a no-op', async (t) => {
  const { mod, installer } = await setup(t);
  const err = await t.throwsAsync(installer.commit(), { instanceOf: ModuleError });
  t.true(isModuleError(err, 'NO_TREE', 'ArtifactCommit'));
  t.true(err?.message.includes(installer.treeDir));
  await installer.cleanup();
  t.deepEqual(await mod.calls(), []);
});

test('Cleanup removes the tree even when the module fails it', async (t) => {
  const { installer } = await setup(t, { Cleanup: '    exit 9' });
  await download(installer, [FILE]);
  const err = await t.throwsAsync(installer.cleanup(), { instanceOf: ModuleError });
  t.true(isModuleError(err, 'EXIT', 'Cleanup'));
  t.false(await fileTreeExists(installer.treeDir));
});

test('a module that cannot be executed is a SPAWN error', async (t) => {
  const dir = await tempDir(t);
  const ctx = makeContext(join(dir, 'work'), makeHeaders({ type: 'fake', files: [FILE] }));
  const installer = new UpdateModuleInstaller({ modulePath: join(dir, 'missing-module'), ctx });
  const err = await t.throwsAsync(download(installer, [FILE]), { instanceOf: ModuleError });
  t.true(isModuleError(err, 'SPAWN', 'ProvidePayloadFileSizes'));
});

test('an abandoned streaming download is killed by the next state (failure) and does not hang', async (t) => {
  const dir = await tempDir(t);
  const { installer, mod } = await setup(t, { Download: streamingDownload(join(dir, 'out')) + '\n    sleep 30' }, 60_000);
  // One file streamed, then the reader failed (e.g. checksum): downloadDone never comes.
  await installer.storeFile(entryFor(FILE.name, FILE.data), chunked(FILE.data));
  const started = Date.now();
  await installer.failure();
  t.true(Date.now() - started < 5000);
  await installer.cleanup();
  t.deepEqual(await mod.calls(), ['ProvidePayloadFileSizes', 'Download', 'ArtifactFailure', 'Cleanup']);
});

// ---- bad input -------------------------------------------------------------------------------

test('a payload file name that is not a plain name is refused before anything is written', async (t) => {
  const { installer, dir } = await setup(t);
  for (const name of ['../escape', 'a/b', '..', '']) {
    const err = await t.throwsAsync(installer.storeFile(entryFor(name, FILE.data), chunked(FILE.data)), { instanceOf: ModuleError });
    t.is(err?.code, 'STREAM', name);
    t.true(err?.message.includes(JSON.stringify(name)));
    await installer.abortDownload();
  }
  t.deepEqual((await readdir(dir)).sort(), ['calls', 'fake-module', 'work']);
});

test('a payload index the artifact does not have is an IO error naming it', async (t) => {
  const dir = await tempDir(t);
  const mod = await fakeModule(dir);
  const ctx = makeContext(join(dir, 'work'), makeHeaders({ type: 'fake' }));
  const installer = new UpdateModuleInstaller({ modulePath: mod.path, ctx, payloadIndex: 1 });
  const err = await t.throwsAsync(installer.downloadDone(), { instanceOf: ModuleError });
  t.is(err?.code, 'IO');
  t.true(err?.message.includes('no payload 1'));
  t.deepEqual(await mod.calls(), []);
});
