import test from 'ava';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeArtifactScripts, ScriptStoreError } from './store-artifact-scripts.js';
import { runStateScripts } from './run-state-scripts.js';
import type { ArtifactScript } from '../../artifact/types.js';

const script = (name: string, body: string, mode = 0o755): ArtifactScript => ({ name, mode, content: Buffer.from(`#!/bin/sh\n${body}\n`) });

async function withDir(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'storescripts-'));
  try {
    await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test('stores scripts with their modes and a version file; they run from there', (t) =>
  withDir(async (root) => {
    const dir = join(root, 'var/lib/mender/scripts');
    await storeArtifactScripts([script('ArtifactInstall_Enter_01', 'echo hi'), script('ArtifactCommit_Leave_02_x', 'true', 0o640)], dir);
    t.deepEqual((await readdir(dir)).sort(), ['ArtifactCommit_Leave_02_x', 'ArtifactInstall_Enter_01', 'version']);
    t.is(await readFile(join(dir, 'version'), 'utf8'), '3');
    t.is((await stat(join(dir, 'ArtifactInstall_Enter_01'))).mode & 0o777, 0o755);
    t.is((await stat(join(dir, 'ArtifactCommit_Leave_02_x'))).mode & 0o777, 0o640);
    const lines: string[] = [];
    const outcome = await runStateScripts({ dirs: [dir], state: 'ArtifactInstall', action: 'Enter', timeoutMs: 5000, retryLaterTimeoutMs: 1000, retryIntervalMs: 10, log: (l) => lines.push(l) });
    t.true(outcome.ok);
    t.true(lines.includes('ArtifactInstall_Enter_01 stdout: hi'));
  }));

test('a new set replaces the old one entirely, including a pre-existing real directory', (t) =>
  withDir(async (root) => {
    const dir = join(root, 'scripts');
    await mkdir(dir);
    await writeFile(join(dir, 'ArtifactInstall_Enter_09_stale'), 'old');
    await storeArtifactScripts([script('ArtifactInstall_Enter_01', 'true')], dir);
    t.true((await lstat(dir)).isSymbolicLink());
    t.deepEqual((await readdir(dir)).sort(), ['ArtifactInstall_Enter_01', 'version']);
    const first = await readlink(dir);
    await storeArtifactScripts([script('ArtifactFailure_Enter_00', 'true')], dir);
    t.not(await readlink(dir), first);
    t.deepEqual((await readdir(dir)).sort(), ['ArtifactFailure_Enter_00', 'version']);
    await storeArtifactScripts([], dir);
    t.deepEqual(await readdir(dir), ['version']);
    t.is((await readdir(root)).length, 2, 'only the link and the current set remain');
  }));

test('unsafe, unknown, rootfs-only and duplicate names are refused and nothing changes', (t) =>
  withDir(async (root) => {
    const dir = join(root, 'scripts');
    await storeArtifactScripts([script('ArtifactInstall_Enter_01', 'true')], dir);
    for (const bad of ['../ArtifactInstall_Enter_02', 'x/ArtifactInstall_Enter_02', 'ArtifactInstall_Enter_02_..', 'version', 'Idle_Enter_00', 'ArtifactInstall_Enter_2']) {
      const err = await t.throwsAsync(storeArtifactScripts([script('ArtifactCommit_Enter_01', 'true'), script(bad, 'true')], dir), { instanceOf: ScriptStoreError });
      t.is(err!.code, 'BAD_NAME', bad);
    }
    const dup = await t.throwsAsync(storeArtifactScripts([script('ArtifactCommit_Enter_01', 'a'), script('ArtifactCommit_Enter_01', 'b')], dir), { instanceOf: ScriptStoreError });
    t.is(dup!.code, 'DUPLICATE');
    t.deepEqual((await readdir(dir)).sort(), ['ArtifactInstall_Enter_01', 'version']);
    t.deepEqual((await readdir(root)).length, 2);
  }));
