// State scripts on the host-sim: rootfs scripts (ScriptsDir) for Download, the artifact's own from
// ArtifactInstall on, run by client/scripts at each state the standalone flow passes; a failing
// Enter script fails the update and leaves the old system in place.
import test from 'ava';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostSimBoard } from './board.js';
import { rootfsImage, writeRootfsArtifact } from './artifacts.js';
import { snapshot } from './testing/state.js';

function script(logFile: string, exit = 0): Buffer {
  return Buffer.from(`#!/bin/sh\necho "$(basename "$0")" >> ${logFile}\nexit ${exit}\n`);
}

async function setup(t: { teardown: (f: () => Promise<void>) => void }) {
  const b = await HostSimBoard.create({ partitionSize: 2 << 20 });
  t.teardown(() => b.destroy());
  await b.boot();
  const log = join(b.dir, 'scripts.log');
  const rootfsScripts = join(b.dir, 'etc', 'flipside', 'scripts');
  await mkdir(rootfsScripts, { recursive: true });
  for (const n of ['Download_Enter_00', 'Download_Leave_00']) {
    await writeFile(join(rootfsScripts, n), script(log));
    await chmod(join(rootfsScripts, n), 0o755);
  }
  const ran = async (): Promise<string[]> => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  return { b, log, ran };
}

test('rootfs and artifact scripts run in state order through install and commit', async (t) => {
  const { b, log, ran } = await setup(t);
  const names = ['ArtifactInstall_Enter_00', 'ArtifactInstall_Leave_00', 'ArtifactCommit_Enter_00', 'ArtifactCommit_Leave_00', 'ArtifactFailure_Enter_00'];
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('s', 1 << 20), {
    scripts: names.map((name) => ({ name, content: script(log), mode: 0o755 })),
  });
  const i = await b.runClient(['install', art, '--reboot-exit-code']);
  t.is(i.code, 4, i.stderr);
  await b.boot();
  const c = await b.runClient(['commit']);
  t.is(c.code, 0, c.stderr);
  t.deepEqual(await ran(), ['Download_Enter_00', 'Download_Leave_00', 'ArtifactInstall_Enter_00', 'ArtifactInstall_Leave_00', 'ArtifactCommit_Enter_00', 'ArtifactCommit_Leave_00']);
  t.is((await b.provides()).artifact_name, 'release-1');
});

test('a failing ArtifactInstall_Enter script fails the update before the flip; error and failure scripts run', async (t) => {
  const { b, log, ran } = await setup(t);
  const before = await snapshot(b);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('s', 1 << 20), {
    scripts: [
      { name: 'ArtifactInstall_Enter_00', content: script(log, 1), mode: 0o755 },
      { name: 'ArtifactInstall_Error_00', content: script(log), mode: 0o755 },
      { name: 'ArtifactFailure_Enter_00', content: script(log), mode: 0o755 },
    ],
  });
  const i = await b.runClient(['install', art, '--reboot-exit-code']);
  t.is(i.code, 1, i.stderr);
  t.deepEqual(await ran(), ['Download_Enter_00', 'Download_Leave_00', 'ArtifactInstall_Enter_00', 'ArtifactInstall_Error_00', 'ArtifactFailure_Enter_00']);
  const after = await snapshot(b);
  t.deepEqual(after.env, before.env);
  t.deepEqual(after.provides, before.provides);
  t.is(after.deployment, null);
});
