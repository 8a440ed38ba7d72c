// writer → reader round trips for every compression, signed and unsigned, rootfs-image and
// module-image; determinism; and structural equality with what mender-artifact 4.0 wrote for the
// same flags.
import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { decompressBuffer, findTool } from './compression.js';
import { readArtifact } from './reader.js';
import { bufferStream, pseudoRandom, splitTar, tempDir, VECTORS, writeToBuffer } from './testing/support.js';
import type { Compression } from './types.js';
import type { WriteSpec } from './writer.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function readAll(buf: Buffer, opts: Parameters<typeof readArtifact>[1] = {}) {
  const files = new Map<string, Buffer>();
  const headers = await readArtifact(bufferStream(buf, 10007), {
    ...opts,
    onPayloadFile: async (e, s) => {
      files.set(e.name, await collect(s));
    },
  });
  return { headers, files };
}

const rootfsImage = pseudoRandom(300_000, 7);
const moduleFiles = { 'a.bin': pseudoRandom(70_000, 3), 'b.txt': Buffer.from('hello\n'), 'empty': Buffer.alloc(0) };
const script = { name: 'ArtifactInstall_Enter_00', content: Buffer.from('#!/bin/sh\necho hi\n') };

function rootfsSpec(compression: Compression, key?: WriteSpec['key']): WriteSpec {
  return {
    type: 'rootfs-image',
    name: 'release-2',
    deviceTypes: ['qemux86-64', 'raspberrypi4'],
    files: [{ name: 'rootfs.ext4', content: rootfsImage }],
    compression,
    key,
    artifactNameDepends: ['release-1'],
    providesGroup: 'g2',
    dependsGroups: ['g1'],
    provides: { 'custom.key': 'v' },
    depends: { foo: ['bar', 'baz'] },
    scripts: [script],
  };
}

function moduleSpec(compression: Compression, key?: WriteSpec['key']): WriteSpec {
  return {
    type: 'single-file',
    name: 'sf-2',
    deviceTypes: ['qemux86-64'],
    files: Object.entries(moduleFiles).map(([name, content]) => ({ name, content })),
    compression,
    key,
    metaData: { z: 1, a: ['x', 2], nested: { b: true } },
    scripts: [script, { name: 'ArtifactCommit_Leave_10_cleanup', content: Buffer.from('#!/bin/sh\n') }],
  };
}

const compressions: Compression[] = ['none', 'gzip', 'xz', 'zstd'];
const keys = { unsigned: undefined, rsa: rsa.privateKey, ecdsa: ec.privateKey };
const pubs = { unsigned: undefined, rsa: rsa.publicKey, ecdsa: ec.publicKey };

for (const c of compressions) {
  for (const signing of ['unsigned', 'rsa', 'ecdsa'] as const) {
    test(`round trip: rootfs-image, ${c}, ${signing}`, async (t) => {
      const buf = await writeToBuffer(rootfsSpec(c, keys[signing]));
      const { headers: h, files } = await readAll(buf, pubs[signing] ? { verifyKeys: [pubs[signing]!] } : {});
      t.is(h.signature, signing === 'unsigned' ? 'none' : 'verified');
      t.is(h.compression, c);
      t.is(h.name, 'release-2');
      t.deepEqual(h.depends, { artifact_name: ['release-1'], device_type: ['qemux86-64', 'raspberrypi4'], artifact_group: ['g1'] });
      t.deepEqual(h.provides, { artifact_name: 'release-2', artifact_group: 'g2' });
      t.is(h.payloads[0]!.type, 'rootfs-image');
      t.deepEqual(h.payloads[0]!.typeInfo.artifact_depends, { foo: ['bar', 'baz'] });
      t.is(h.payloads[0]!.typeInfo.artifact_provides!['custom.key'], 'v');
      t.deepEqual(h.scripts.map((s) => [s.name, s.content.toString(), s.mode]), [[script.name, script.content.toString(), 0o755]]);
      t.true(files.get('rootfs.ext4')!.equals(rootfsImage));
    });
    test(`round trip: module-image, ${c}, ${signing}`, async (t) => {
      const buf = await writeToBuffer(moduleSpec(c, keys[signing]));
      const { headers: h, files } = await readAll(buf, pubs[signing] ? { verifyKeys: [pubs[signing]!] } : {});
      t.is(h.signature, signing === 'unsigned' ? 'none' : 'verified');
      t.is(h.payloads[0]!.type, 'single-file');
      t.deepEqual(h.payloads[0]!.metaData, { z: 1, a: ['x', 2], nested: { b: true } });
      t.deepEqual(h.payloads[0]!.files.map((f) => [f.name, f.size]), Object.entries(moduleFiles).map(([n, b]) => [n, b.length]));
      for (const [n, b] of Object.entries(moduleFiles)) t.true(files.get(n)!.equals(b), n);
      t.deepEqual(h.scripts.map((s) => s.name), ['ArtifactCommit_Leave_10_cleanup', 'ArtifactInstall_Enter_00']);
    });
  }
  test(`determinism: same spec, same bytes (${c})`, async (t) => {
    const a = await writeToBuffer(moduleSpec(c, ec.privateKey));
    const b = await writeToBuffer(moduleSpec(c, ec.privateKey));
    // ECDSA signatures are randomised; everything else must be identical.
    const strip = (x: Buffer) => splitTar(x).filter((m) => m.name !== 'manifest.sig');
    t.deepEqual(strip(a), strip(b));
    const r1 = await writeToBuffer(rootfsSpec(c, rsa.privateKey));
    const r2 = await writeToBuffer(rootfsSpec(c, rsa.privateKey));
    t.true(r1.equals(r2));
  });
}

test('round trip: files and scripts from paths, output to a path', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  writeFileSync(join(dir, 'img'), rootfsImage);
  writeFileSync(join(dir, 'ArtifactReboot_Leave_50'), '#!/bin/sh\n');
  const out = join(dir, 'a.mender');
  const r = await (await import('./writer.js')).writeArtifact(
    { type: 'rootfs-image', name: 'r1', deviceTypes: ['d'], files: [join(dir, 'img')], scripts: [join(dir, 'ArtifactReboot_Leave_50')], compression: 'zstd' },
    out,
  );
  t.is(r.bytes, readFileSync(out).length);
  const h = await readArtifact(out);
  t.is(h.payloads[0]!.files[0]!.name, 'img');
  t.is(h.scripts[0]!.name, 'ArtifactReboot_Leave_50');
  t.true(r.manifest.includes('  data/0000/img\n'));
});

// ---- structure against mender-artifact 4.0 ---------------------------------------------------

function vectorMembers(name: string) {
  return splitTar(readFileSync(join(VECTORS, name)));
}

async function headerMembers(members: ReturnType<typeof splitTar>) {
  const h = members.find((m) => m.name.startsWith('header.tar'))!;
  const c: Compression = h.name.endsWith('.gz') ? 'gzip' : h.name.endsWith('.zst') ? 'zstd' : h.name.endsWith('.xz') ? 'xz' : 'none';
  return splitTar(await decompressBuffer(c, h.body, 1 << 24, 'header'));
}

async function dataFiles(members: ReturnType<typeof splitTar>) {
  const d = members.find((m) => m.name.startsWith('data/0000.tar'))!;
  const c: Compression = d.name.endsWith('.gz') ? 'gzip' : d.name.endsWith('.zst') ? 'zstd' : d.name.endsWith('.xz') ? 'xz' : 'none';
  return splitTar(await decompressBuffer(c, d.body, 1 << 28, 'data'));
}

async function compareWithVector(t: import('ava').ExecutionContext, vector: string, ours: Buffer, sameHeaderBytes: boolean) {
  const theirs = vectorMembers(vector);
  const mine = splitTar(ours);
  t.deepEqual(mine.map((m) => [m.name, m.mode]), theirs.map((m) => [m.name, m.mode]), 'outer members, order and modes');
  const th = await headerMembers(theirs);
  const mh = await headerMembers(mine);
  t.deepEqual(mh.map((m) => [m.name, m.mode]), th.map((m) => [m.name, m.mode]), 'header.tar members, order and modes');
  for (const name of ['header-info', 'headers/0000/type-info', 'headers/0000/meta-data']) {
    const a = mh.find((m) => m.name === name)?.body.toString();
    let b = th.find((m) => m.name === name)?.body.toString();
    // The one deliberate difference: 4.0.0 wrote `"type":""` in a rootfs-image type-info, a bug
    // mender-artifact 4.3.1 fixed (4.4.0 refuses such artifacts); we write what 4.3.1+ writes.
    if (name === 'headers/0000/type-info' && b?.startsWith('{"type":""')) b = b.replace('{"type":""', '{"type":"rootfs-image"');
    t.is(a, b, name);
  }
  for (const s of th.filter((m) => m.name.startsWith('scripts/'))) t.true(mh.find((m) => m.name === s.name)!.body.equals(s.body));
  const lines = (ms: ReturnType<typeof splitTar>) => ms.find((m) => m.name === 'manifest')!.body.toString().split('\n');
  if (sameHeaderBytes) t.deepEqual(lines(mine), lines(theirs), 'manifest identical');
  else t.deepEqual(lines(mine).filter((l) => !l.includes('header.tar')), lines(theirs).filter((l) => !l.includes('header.tar')), 'manifest identical but for the header line');
  t.is(mine.find((m) => m.name === 'version')!.body.toString(), theirs.find((m) => m.name === 'version')!.body.toString());
}

const vectorRootfs = async () => (await dataFiles(vectorMembers('rootfs-none.mender'))).find((f) => f.name === 'rootfs.ext4')!.body;

test('structure: rootfs-none (default flags) — same members, JSON and manifest as mender-artifact but the type-info fix', async (t) => {
  const img = await vectorRootfs();
  const ours = await writeToBuffer({ type: 'rootfs-image', name: 'release-1', deviceTypes: ['qemux86-64'], files: [{ name: 'rootfs.ext4', content: img }], compression: 'none' });
  // Same payload, same flags, uncompressed: every byte of the manifest but the header.tar line
  // matches 4.0.0's (that line differs only because type-info carries the 4.3.1 type fix).
  await compareWithVector(t, 'rootfs-none.mender', ours, false);
  const ti = (await headerMembers(splitTar(ours))).find((m) => m.name === 'headers/0000/type-info')!.body.toString();
  t.true(ti.startsWith('{"type":"rootfs-image",'), ti);
});

test('structure: rootfs-depends-provides — same header-info, type-info and scripts for the same flags', async (t) => {
  const img = await vectorRootfs();
  const scriptBody = (await headerMembers(vectorMembers('rootfs-depends-provides.mender'))).find((m) => m.name === 'scripts/ArtifactInstall_Enter_00')!.body;
  const ours = await writeToBuffer({
    type: 'rootfs-image',
    name: 'release-2',
    deviceTypes: ['qemux86-64', 'raspberrypi4'],
    files: [{ name: 'rootfs.ext4', content: img }],
    artifactNameDepends: ['release-1'],
    dependsGroups: ['groupA'],
    providesGroup: 'groupB',
    depends: { foo: 'bar' },
    provides: { 'custom.key': 'custom-value' },
    softwareName: 'myos',
    softwareVersion: '2.0.0',
    clearsProvides: ['rootfs-image.*'],
    scripts: [{ name: 'ArtifactInstall_Enter_00', content: scriptBody }],
  });
  await compareWithVector(t, 'rootfs-depends-provides.mender', ours, false);
});

test('structure: module-single-file — same members and JSON', async (t) => {
  const files = await dataFiles(vectorMembers('module-single-file.mender'));
  const ours = await writeToBuffer({ type: 'single-file', name: 'sf-1', deviceTypes: ['qemux86-64'], files: files.map((f) => ({ name: f.name, content: f.body })) });
  await compareWithVector(t, 'module-single-file.mender', ours, false);
});

test('structure: module-directory — meta-data, depends, provides and software name', async (t) => {
  const files = await dataFiles(vectorMembers('module-directory.mender'));
  const ours = await writeToBuffer({
    type: 'directory',
    name: 'dir-1',
    deviceTypes: ['qemux86-64'],
    files: files.map((f) => ({ name: f.name, content: f.body })),
    metaData: { n: 1, key: 'value' },
    depends: { 'rootfs-image.version': 'release-1' },
    provides: { 'data.version': '7' },
    softwareName: 'dirdata',
  });
  await compareWithVector(t, 'module-directory.mender', ours, false);
});

test('structure: module-empty-signed-ecdsa-zstd — empty payload, zstd, ECDSA', async (t) => {
  t.truthy(findTool('zstd'));
  const key = readFileSync(join(VECTORS, 'keys', 'ecdsa-p256.key'));
  const ours = await writeToBuffer({ type: 'script', name: 'empty-1', deviceTypes: ['qemux86-64'], compression: 'zstd_fast', key });
  await compareWithVector(t, 'module-empty-signed-ecdsa-zstd.mender', ours, false);
  const sig = splitTar(ours).find((m) => m.name === 'manifest.sig')!.body;
  t.is(Buffer.from(sig.toString(), 'base64').length, 64, 'raw r||s like mender-artifact');
  const h = await readArtifact(bufferStream(ours), { verifyKeys: [readFileSync(join(VECTORS, 'keys', 'ecdsa-p256.pub'))] });
  t.is(h.signature, 'verified');
  t.deepEqual(h.payloads[0]!.files, []);
});

test('write flags: --no-default-software-version, --no-default-clears-provides, legacy checksum, -p vs --software-version', async (t) => {
  const base: WriteSpec = { type: 'rootfs-image', name: 'n1', deviceTypes: ['d'], files: [{ name: 'f', content: Buffer.from('x') }], compression: 'none' };
  const ti = async (s: Partial<WriteSpec>) => {
    const buf = await writeToBuffer({ ...base, ...s });
    return (await readArtifact(bufferStream(buf))).payloads[0]!.typeInfo;
  };
  const a = await ti({ noDefaultSoftwareVersion: true });
  t.deepEqual(Object.keys(a.artifact_provides!), ['rootfs-image.checksum']);
  t.is(a.clears_artifact_provides, undefined);
  const b = await ti({ noDefaultClearsProvides: true, clearsProvides: ['x.*'] });
  t.deepEqual(b.clears_artifact_provides, ['x.*']);
  t.is(b.artifact_provides!['rootfs-image.version'], 'n1');
  const c = await ti({ legacyRootfsImageChecksum: true });
  t.truthy(c.artifact_provides!.rootfs_image_checksum);
  t.false('rootfs-image.checksum' in c.artifact_provides!);
  const d = await ti({ noChecksumProvide: true, provides: { 'rootfs-image.version': 'mine' } });
  t.deepEqual(d.artifact_provides, { 'rootfs-image.version': 'mine' });
  const e = await ti({ provides: { 'rootfs-image.version': 'mine' }, softwareVersion: 'sw', softwareVersionOverridesProvides: true });
  t.is(e.artifact_provides!['rootfs-image.version'], 'sw');
  const f = await ti({ softwareFilesystem: 'data', softwareName: 'app' });
  t.is(f.artifact_provides!['data.app.version'], 'n1');
  t.deepEqual(f.clears_artifact_provides, ['data.app.*']);
});

test('backpressure: a slow consumer holds the source back (no payload buffering)', async (t) => {
  const payload = pseudoRandom(24 << 20, 11);
  const buf = await writeToBuffer({ type: 'rootfs-image', name: 'bp', deviceTypes: ['d'], files: [{ name: 'img', content: payload }], compression: 'none' });
  let pulled = 0;
  const source = Readable.from(
    (function* () {
      for (let i = 0; i < buf.length; i += 65536) {
        pulled += Math.min(65536, buf.length - i);
        yield buf.subarray(i, i + 65536);
      }
    })(),
    { objectMode: false, highWaterMark: 65536 },
  );
  let seenAtPause = -1;
  let got = 0;
  await readArtifact(source, {
    onPayloadFile: async (_e, s) => {
      for await (const c of s) {
        got += (c as Buffer).length;
        if (seenAtPause === -1 && got > 1 << 20) {
          await new Promise((r) => setTimeout(r, 150));
          seenAtPause = pulled;
        }
      }
    },
  });
  t.is(got, payload.length);
  t.true(seenAtPause - got < 4 << 20, `read ahead ${(seenAtPause - got) >> 10} KiB while the consumer slept`);
});

test('onHeaders runs before any payload byte and can refuse', async (t) => {
  const buf = await writeToBuffer(moduleSpec('gzip'));
  let payloadCalls = 0;
  const { ArtifactError } = await import('./errors.js');
  const e = await t.throwsAsync(
    readArtifact(bufferStream(buf), {
      onHeaders: (h) => {
        t.is(h.payloads[0]!.files.length, 0);
        throw new ArtifactError('REFUSED', 'no');
      },
      onPayloadFile: async () => {
        payloadCalls++;
      },
    }),
  );
  t.is((e as InstanceType<typeof ArtifactError>).code, 'REFUSED');
  t.is(payloadCalls, 0);
});

test('a consumer that fails makes readArtifact fail with its error', async (t) => {
  const buf = await writeToBuffer(moduleSpec('zstd'));
  const e = await t.throwsAsync(
    readArtifact(bufferStream(buf), {
      onPayloadFile: async (_e, s) => {
        s.destroy();
        throw new Error('disk full');
      },
    }),
  );
  t.is(e?.message, 'disk full');
});

test('a consumer failure stops the download at once', async (t) => {
  const buf = await writeToBuffer({ type: 'rootfs-image', name: 'f', deviceTypes: ['d'], files: [{ name: 'img', content: pseudoRandom(16 << 20, 5) }], compression: 'none' });
  let pulled = 0;
  const source = Readable.from(
    (function* () {
      for (let i = 0; i < buf.length; i += 65536) {
        pulled += 65536;
        yield buf.subarray(i, i + 65536);
      }
    })(),
    { objectMode: false },
  );
  const e = await t.throwsAsync(
    readArtifact(source, {
      onPayloadFile: async (_e, s) => {
        for await (const _ of s) throw new Error('no space left on device');
      },
    }),
  );
  t.is(e?.message, 'no space left on device');
  t.true(pulled < buf.length / 2, `pulled ${pulled >> 20} MiB of ${buf.length >> 20}`);
});
