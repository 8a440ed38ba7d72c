// The conformance artifacts written by the real mender-artifact 4.0.0, read by our artifact
// reader and installed by the shipped modules. Their dest_dirs are fixed (/opt/dest, /opt/dir), so
// the modules run with FLIPSIDE_MODULE_ROOT pointing at a temp dir.
import test, { type ExecutionContext } from 'ava';
import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readArtifact } from '../../../artifact/reader.js';
import { fileTreeExists } from './file-tree.js';
import { UpdateModuleInstaller } from './runner.js';
import { SHIPPED_MODULES, tempDir } from './testing/support.js';
import type { InstallContext } from '../types.js';

import { CONFORMANCE_DIR as VECTORS } from '../../../test-support/shared-dir.js';
const haveVectors = existsSync(VECTORS);

/** Reads the artifact straight into the module the payload type names, like the client does. */
async function installFromArtifact(t: ExecutionContext, file: string, verifyKeys?: string[]) {
  const root = await tempDir(t);
  const work = join(await tempDir(t), 'work');
  const log: string[] = [];
  let installer: UpdateModuleInstaller | undefined;
  await readArtifact(join(VECTORS, file), {
    verifyKeys,
    onHeaders: (headers) => {
      const ctx: InstallContext = {
        headers,
        workDir: work,
        current: { artifactName: 'release-1', deviceType: 'qemux86-64' },
        log: (l) => log.push(l),
      };
      const modulePath = UpdateModuleInstaller.findModule(SHIPPED_MODULES, headers.payloads[0]!.type!);
      installer = new UpdateModuleInstaller({ modulePath, ctx, env: { FLIPSIDE_MODULE_ROOT: root } });
    },
    onPayloadFile: (entry, stream) => installer!.storeFile(entry, stream),
  });
  await installer!.downloadDone();
  return { installer: installer!, root, log };
}

(haveVectors ? test : test.skip)('module-single-file.mender installs one.txt into /opt/dest and rolls back', async (t) => {
  const { installer, root } = await installFromArtifact(t, 'module-single-file.mender');
  t.is(await readFile(join(installer.treeDir, 'header', 'payload_type'), 'utf8'), 'single-file');
  t.is(
    await readFile(join(installer.treeDir, 'header', 'type-info'), 'utf8'),
    '{"artifact_provides":{"rootfs-image.single-file.version":"sf-1"},"clears_artifact_provides":["rootfs-image.single-file.*"],"type":"single-file"}',
  );
  await installer.install();
  const target = join(root, 'opt', 'dest', 'one.txt');
  t.is(await readFile(target, 'utf8'), 'file one\n');
  t.is((await stat(target)).mode & 0o777, 0o644);
  t.true(await installer.supportsRollback());
  await installer.rollback();
  t.deepEqual(await readdir(join(root, 'opt', 'dest')), []);
  await installer.cleanup();
  t.false(await fileTreeExists(installer.treeDir));
});

(haveVectors ? test : test.skip)('module-directory.mender unpacks update.tar into /opt/dir, meta-data reaches the tree', async (t) => {
  const { installer, root } = await installFromArtifact(t, 'module-directory.mender');
  t.is(await readFile(join(installer.treeDir, 'header', 'meta-data'), 'utf8'), '{"key":"value","n":1}');
  t.is(
    await readFile(join(installer.treeDir, 'header', 'header-info'), 'utf8'),
    '{"artifact_depends":{"device_type":["qemux86-64"]},"artifact_provides":{"artifact_name":"dir-1"},"payloads":[{"type":"directory"}]}',
  );
  await installer.install();
  const dest = join(root, 'opt', 'dir');
  t.is(await readFile(join(dest, 'a.txt'), 'utf8'), 'a\n');
  t.is(await readFile(join(dest, 'sub', 'b.txt'), 'utf8'), 'b\n');
  await installer.commit();
  await installer.cleanup();
  t.deepEqual((await readdir(dest)).sort(), ['a.txt', 'sub']);
});

(haveVectors ? test : test.skip)('module-empty-signed-ecdsa-zstd.mender (script, no files) verifies and installs as a no-op', async (t) => {
  const { installer, log } = await installFromArtifact(t, 'module-empty-signed-ecdsa-zstd.mender', [
    await readFile(join(VECTORS, 'keys', 'ecdsa-p256.pub'), 'utf8'),
  ]);
  t.false(await fileTreeExists(join(installer.treeDir, 'files')));
  await installer.install();
  t.is(await installer.needsReboot(), 'no');
  t.false(await installer.supportsRollback());
  await installer.commit();
  await installer.cleanup();
  t.deepEqual(log, []);
});
