import test from 'ava';
import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson, fileTreeExists, fileTreePath, prepareFileTree, removeFileTree } from './file-tree.js';
import { makeContext, makeHeaders, tempDir } from './testing/support.js';

const read = (dir: string, rel: string) => readFile(join(dir, rel), 'utf8');

test('the tree lives at payloads/0000/tree under the work dir', (t) => {
  t.is(fileTreePath('/data/flipside/work'), '/data/flipside/work/payloads/0000/tree');
  t.is(fileTreePath('/w', 3), '/w/payloads/0003/tree');
});

test('prepareFileTree writes every file Mender writes, field by field', async (t) => {
  const work = await tempDir(t);
  const headers = makeHeaders({ type: 'directory', name: 'dir-1', group: 'groupB', metaData: { n: 1, key: 'value' } });
  const tree = fileTreePath(work);
  await prepareFileTree(tree, makeContext(work, headers));

  t.is(await read(tree, 'version'), '3\n');
  t.is(await read(tree, 'current_artifact_name'), 'release-1\n');
  t.is(await read(tree, 'current_artifact_group'), 'stable\n');
  t.is(await read(tree, 'current_device_type'), 'qemux86-64\n');
  t.is(await read(tree, 'header/artifact_name'), 'dir-1');
  t.is(await read(tree, 'header/artifact_group'), 'groupB');
  t.is(await read(tree, 'header/payload_type'), 'directory');
  t.is(
    await read(tree, 'header/header-info'),
    '{"artifact_depends":{"device_type":["qemux86-64"]},"artifact_provides":{"artifact_group":"groupB","artifact_name":"dir-1"},"payloads":[{"type":"directory"}]}',
  );
  t.is(
    await read(tree, 'header/type-info'),
    '{"artifact_provides":{"rootfs-image.directory.version":"dir-1"},"clears_artifact_provides":["rootfs-image.directory.*"],"type":"directory"}',
  );
  t.is(await read(tree, 'header/meta-data'), '{"key":"value","n":1}');
  t.deepEqual(await readdir(join(tree, 'tmp')), []);
  t.deepEqual((await readdir(tree)).sort(), [
    'current_artifact_group',
    'current_artifact_name',
    'current_device_type',
    'header',
    'tmp',
    'version',
  ]);
  t.deepEqual((await readdir(join(tree, 'header'))).sort(), [
    'artifact_group',
    'artifact_name',
    'header-info',
    'meta-data',
    'payload_type',
    'type-info',
  ]);
});

test('absent group and meta-data: empty current_artifact_group, empty group header, {} meta-data', async (t) => {
  const work = await tempDir(t);
  const ctx = makeContext(work, makeHeaders({ type: 'script' }));
  ctx.current = { artifactName: 'release-1', deviceType: 'qemux86-64' };
  const tree = fileTreePath(work);
  await prepareFileTree(tree, ctx);
  t.is(await read(tree, 'current_artifact_group'), '');
  t.is(await read(tree, 'header/artifact_group'), '');
  t.is(await read(tree, 'header/meta-data'), '{}');
});

test('a second prepare replaces an old tree completely (files/, tmp/ contents, a stale staging dir)', async (t) => {
  const work = await tempDir(t);
  const tree = fileTreePath(work);
  const ctx = makeContext(work, makeHeaders({ type: 'single-file' }));
  await prepareFileTree(tree, ctx);
  await mkdir(join(tree, 'files'));
  await writeFile(join(tree, 'files', 'old'), 'x');
  await writeFile(join(tree, 'tmp', 'junk'), 'x');
  await mkdir(`${tree}.new`);
  await writeFile(`${tree}.new/half`, 'x');
  await prepareFileTree(tree, ctx);
  t.false(await fileTreeExists(join(tree, 'files')));
  t.deepEqual(await readdir(join(tree, 'tmp')), []);
  t.false(await fileTreeExists(`${tree}.new`));
  t.is(await read(tree, 'version'), '3\n');
});

test('removeFileTree removes the tree and is a no-op when there is none', async (t) => {
  const work = await tempDir(t);
  const tree = fileTreePath(work);
  await prepareFileTree(tree, makeContext(work, makeHeaders({ type: 'x' })));
  t.true((await stat(tree)).isDirectory());
  await removeFileTree(tree);
  t.false(await fileTreeExists(tree));
  await t.notThrowsAsync(removeFileTree(tree));
});

test('canonicalJson sorts keys at every level and drops undefined', (t) => {
  t.is(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[{"y":2,"z":1}]},"b":1}');
});
