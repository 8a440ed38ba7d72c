import test from 'ava';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStateScriptHooks, StateScriptError } from './hooks.js';

test('hooks pick the dir by state and throw on failure, never for Error scripts', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'hooks-'));
  try {
    const rootfsDir = join(root, 'rootfs');
    const artifactDir = join(root, 'artifact');
    await mkdir(rootfsDir);
    await mkdir(artifactDir);
    const put = async (dir: string, name: string, code: number) => {
      await writeFile(join(dir, name), `#!/bin/sh\necho ${name} >&2\nexit ${code}\n`);
      await chmod(join(dir, name), 0o755);
    };
    await put(rootfsDir, 'Download_Enter_00', 1);
    await put(artifactDir, 'Download_Enter_00', 0); // never used: Download scripts come from the rootfs
    await put(artifactDir, 'ArtifactInstall_Enter_00', 0);
    await put(rootfsDir, 'ArtifactInstall_Leave_00', 1); // never used: artifact states use the artifact dir
    await put(artifactDir, 'ArtifactInstall_Error_00', 1);
    const lines: string[] = [];
    const hooks = createStateScriptHooks({ rootfsDir, artifactDir, timeoutMs: 5000, retryLaterTimeoutMs: 500, retryIntervalMs: 10, log: (l) => lines.push(l) });
    const err = await t.throwsAsync(hooks.run('Download', 'Enter'), { instanceOf: StateScriptError });
    t.is(err!.failure.script, join(rootfsDir, 'Download_Enter_00'));
    t.is(err!.failure.stderr, 'Download_Enter_00\n');
    await t.notThrowsAsync(hooks.run('ArtifactInstall', 'Enter'));
    await t.notThrowsAsync(hooks.run('ArtifactInstall', 'Leave'));
    await t.notThrowsAsync(hooks.run('ArtifactInstall', 'Error'));
    t.true(lines.some((l) => l.startsWith('ignoring failure of Error script')));
    const early = createStateScriptHooks({ rootfsDir, artifactDir: null, timeoutMs: 5000, retryLaterTimeoutMs: 500, retryIntervalMs: 10, log: () => undefined });
    await t.notThrowsAsync(early.run('ArtifactInstall', 'Leave'));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
