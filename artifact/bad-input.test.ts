// Malformed, truncated, tampered and hostile artifacts: each must end in a typed ArtifactError
// with the right code, quickly, without buffering unbounded data.
import test from 'ava';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { ArtifactError } from './errors.js';
import { readArtifact } from './reader.js';
import { buildTar, bufferStream, pseudoRandom, splitTar, writeToBuffer, type RawMember } from './testing/support.js';
import type { ArtifactErrorCode } from './types.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

async function expectCode(t: import('ava').ExecutionContext, input: Buffer | Readable, codes: ArtifactErrorCode | ArtifactErrorCode[], opts: Parameters<typeof readArtifact>[1] = {}, what = ''): Promise<ArtifactError> {
  const list = Array.isArray(codes) ? codes : [codes];
  const e = await t.throwsAsync(readArtifact(Buffer.isBuffer(input) ? bufferStream(input, 4096) : input, opts), { instanceOf: ArtifactError }, what);
  if (e) t.true(list.includes(e.code), `${what}: got ${e.code} (${e.message}), wanted ${list.join('|')}`);
  return e as ArtifactError;
}

interface Parts {
  version?: Buffer;
  headerInfo?: unknown;
  typeInfo?: unknown;
  headerMembers?: RawMember[];
  dataMembers?: RawMember[];
  extraOuter?: RawMember[];
}

/** A well-formed uncompressed artifact built by hand, so tests can break one thing at a time. */
function assemble(p: Parts = {}): { buffer: Buffer; members: RawMember[] } {
  const version = p.version ?? Buffer.from('{"format":"mender","version":3}');
  const headerMembers = p.headerMembers ?? [
    { name: 'header-info', body: Buffer.from(JSON.stringify(p.headerInfo ?? { payloads: [{ type: 'single-file' }], artifact_provides: { artifact_name: 'a1' }, artifact_depends: { device_type: ['dev'] } })) },
    { name: 'headers/0000/type-info', body: Buffer.from(JSON.stringify(p.typeInfo ?? { type: 'single-file' })) },
  ];
  const dataMembers = p.dataMembers ?? [
    { name: 'one', body: Buffer.from('first file\n'), mode: 0o644 },
    { name: 'two', body: pseudoRandom(3000, 5), mode: 0o644 },
  ];
  const header = buildTar(headerMembers);
  const data = buildTar(dataMembers);
  const manifest = Buffer.from(
    [...dataMembers.filter((m) => !m.name.includes('..') && !m.name.startsWith('/')).map((m) => `${sha(m.body)}  data/0000/${m.name}`), `${sha(header)}  header.tar`, `${sha(version)}  version`].join('\n') + '\n',
  );
  const members: RawMember[] = [
    { name: 'version', body: version },
    { name: 'manifest', body: manifest },
    { name: 'header.tar', body: header },
    { name: 'data/0000.tar', body: data },
    ...(p.extraOuter ?? []),
  ];
  return { buffer: buildTar(members), members };
}

test('the hand-built artifact is valid (so each test below breaks exactly one thing)', async (t) => {
  const h = await readArtifact(bufferStream(assemble().buffer));
  t.deepEqual(h.payloads[0]!.files.map((f) => f.name), ['one', 'two']);
});

test('truncated at every 512-byte boundary and at odd offsets: TRUNCATED', async (t) => {
  const small = await writeToBuffer({ type: 'single-file', name: 'x', deviceTypes: ['d'], files: [{ name: 'f', content: pseudoRandom(5000, 2) }, { name: 'g', content: Buffer.from('g') }], compression: 'gzip' });
  const none = assemble().buffer;
  for (const buf of [small, none]) {
    const offsets: number[] = [];
    for (let o = 0; o < buf.length; o += 512) offsets.push(o);
    offsets.push(1, 100, 511, 513, 700, 1000, 1537, buf.length - 1, buf.length - 513, buf.length - 1023);
    for (const o of offsets) {
      const e = await t.throwsAsync(readArtifact(bufferStream(buf.subarray(0, o), 1000)), { instanceOf: ArtifactError }, `offset ${o}`);
      t.is(e?.code, 'TRUNCATED', `offset ${o}: ${e?.message}`);
    }
  }
});

test('members out of order: ORDER', async (t) => {
  const { members } = assemble();
  const swap = (i: number, j: number) => {
    const m = [...members];
    [m[i], m[j]] = [m[j]!, m[i]!];
    return buildTar(m);
  };
  await expectCode(t, swap(0, 1), 'ORDER', {}, 'manifest before version');
  await expectCode(t, swap(1, 2), 'ORDER', {}, 'header before manifest');
  await expectCode(t, swap(2, 3), 'ORDER', {}, 'data before header');
  const sigLate = buildTar([...members, { name: 'manifest.sig', body: Buffer.from('AAAA') }]);
  await expectCode(t, sigLate, 'ORDER', {}, 'manifest.sig after data');
  const twice = buildTar([...members, members[3]!]);
  await expectCode(t, twice, 'DUPLICATE_MEMBER', {}, 'data/0000.tar twice');
  await expectCode(t, buildTar([...members.slice(0, 3), { name: 'evil', body: Buffer.from('x') }]), 'UNEXPECTED_MEMBER', {}, 'unknown member');
});

function withManifest(members: RawMember[], edit: (lines: string[]) => string[]): Buffer {
  return buildTar(
    members.map((m) => (m.name === 'manifest' ? { ...m, body: Buffer.from(edit(m.body.toString().trimEnd().split('\n')).join('\n') + '\n') } : m)),
  );
}

test('manifest lines missing, extra, duplicated or malformed', async (t) => {
  const { members } = assemble();
  await expectCode(t, withManifest(members, (l) => l.filter((x) => !x.endsWith('data/0000/two'))), 'MANIFEST_MISSING_ENTRY', {}, 'payload file not listed');
  await expectCode(t, withManifest(members, (l) => l.filter((x) => !x.endsWith('header.tar'))), 'MANIFEST_MISSING_ENTRY', {}, 'header not listed');
  await expectCode(t, withManifest(members, (l) => l.filter((x) => !x.endsWith('version'))), 'MANIFEST_MISSING_ENTRY', {}, 'version not listed');
  await expectCode(t, withManifest(members, (l) => [...l, `${'0'.repeat(64)}  data/0000/three`]), 'MANIFEST_UNUSED_ENTRY', {}, 'file listed but absent');
  await expectCode(t, withManifest(members, (l) => [...l, l[0]!]), 'MANIFEST_SYNTAX', {}, 'duplicate line');
  await expectCode(t, withManifest(members, (l) => [...l, 'nonsense']), 'MANIFEST_SYNTAX', {}, 'malformed line');
  await expectCode(t, withManifest(members, (l) => l.map((x) => x.replace('  ', ' '))), 'MANIFEST_SYNTAX', {}, 'one space');
  await expectCode(t, withManifest(members, () => []), 'MANIFEST_SYNTAX', {}, 'empty manifest');
});

function flip(members: RawMember[], name: string, at: number): Buffer {
  return buildTar(
    members.map((m) => {
      if (m.name !== name) return m;
      const b = Buffer.from(m.body);
      b[at] = b[at]! ^ 0x01;
      return { ...m, body: b };
    }),
  );
}

test('a flipped byte in each member is caught', async (t) => {
  const { members } = assemble();
  await expectCode(t, flip(members, 'version', 2), 'CHECKSUM_MISMATCH', {}, 'version');
  await expectCode(t, flip(members, 'manifest', 0), 'CHECKSUM_MISMATCH', {}, 'manifest hex digit of a payload file');
  await expectCode(t, flip(members, 'header.tar', 600), 'CHECKSUM_MISMATCH', {}, 'header');
  // payload file content inside the uncompressed data tar (the first file's body starts at 512)
  const e = await expectCode(t, flip(members, 'data/0000.tar', 515), 'CHECKSUM_MISMATCH', {}, 'payload');
  t.regex(e.message, /data\/0000\/one/);
  // in a compressed artifact a flip inside the compressed payload is a decompression or checksum failure
  const gz = splitTar(await writeToBuffer({ type: 'single-file', name: 'x', deviceTypes: ['d'], files: [{ name: 'f', content: pseudoRandom(20000, 9) }], compression: 'gzip' }));
  const dataLen = gz.find((m) => m.name === 'data/0000.tar.gz')!.body.length;
  for (const at of [20, Math.floor(dataLen / 2), dataLen - 6]) {
    await expectCode(t, flip(gz, 'data/0000.tar.gz', at), ['CHECKSUM_MISMATCH', 'COMPRESSION', 'BAD_HEADER', 'TRUNCATED'], {}, `gzip payload byte ${at}`);
  }
  const signed = splitTar(await writeToBuffer({ type: 'single-file', name: 'x', deviceTypes: ['d'], files: [{ name: 'f', content: Buffer.from('abc') }], compression: 'none', key: key.privateKey }));
  await expectCode(t, flip(signed, 'manifest', 3), 'SIGNATURE_INVALID', { verifyKeys: [key.publicKey] }, 'signed manifest');
});

test('a checksum mismatch errors the consumer stream instead of ending it', async (t) => {
  const { members } = assemble();
  let consumerSaw = null as string | null;
  await expectCode(t, flip(members, 'data/0000.tar', 515), 'CHECKSUM_MISMATCH', {
    onPayloadFile: async (_e, s) => {
      try {
        for await (const _ of s) void _;
        consumerSaw = 'end';
      } catch (err) {
        consumerSaw = (err as ArtifactError).code;
        throw err;
      }
    },
  });
  t.is(consumerSaw, 'CHECKSUM_MISMATCH');
});

test('bad or missing signature when a key is given', async (t) => {
  const signed = splitTar(await writeToBuffer({ type: 'single-file', name: 'x', deviceTypes: ['d'], files: [{ name: 'f', content: Buffer.from('abc') }], compression: 'none', key: key.privateKey }));
  const opts = { verifyKeys: [key.publicKey] };
  const replaceSig = (body: Buffer) => buildTar(signed.map((m) => (m.name === 'manifest.sig' ? { ...m, body } : m)));
  await expectCode(t, replaceSig(Buffer.from('not base64 at all!')), 'SIGNATURE_INVALID', opts, 'garbage');
  await expectCode(t, replaceSig(Buffer.from(pseudoRandom(64, 3).toString('base64'))), 'SIGNATURE_INVALID', opts, 'random r||s');
  await expectCode(t, replaceSig(Buffer.from(pseudoRandom(50, 3).toString('base64'))), 'SIGNATURE_INVALID', opts, 'wrong length');
  await expectCode(t, replaceSig(Buffer.alloc(0)), 'SIGNATURE_INVALID', opts, 'empty');
  await expectCode(t, buildTar(signed.filter((m) => m.name !== 'manifest.sig')), 'SIGNATURE_REQUIRED', opts, 'removed');
  const e = await t.throwsAsync(readArtifact(bufferStream(buildTar(signed)), { verifyKeys: ['not a key'] }), { instanceOf: ArtifactError });
  t.is(e?.code, 'BAD_KEY');
});

test('unsafe paths: .. and absolute names anywhere', async (t) => {
  const { members } = assemble();
  await expectCode(t, buildTar([...members.slice(0, 3), { name: '../evil', body: Buffer.from('x') }]), 'UNSAFE_PATH', {}, 'outer ..');
  await expectCode(t, buildTar([...members.slice(0, 3), { name: '/etc/passwd', body: Buffer.from('x') }]), 'UNSAFE_PATH', {}, 'outer absolute');
  await expectCode(t, assemble({ dataMembers: [{ name: '../../etc/shadow', body: Buffer.from('x') }] }).buffer, 'UNSAFE_PATH', {}, 'payload ..');
  await expectCode(t, assemble({ dataMembers: [{ name: '/etc/shadow', body: Buffer.from('x') }] }).buffer, 'UNSAFE_PATH', {}, 'payload absolute');
  await expectCode(t, assemble({ dataMembers: [{ name: 'dir/file', body: Buffer.from('x') }] }).buffer, ['UNSAFE_PATH'], {}, 'payload with a directory');
  const hi = { name: 'header-info', body: Buffer.from(JSON.stringify({ payloads: [{ type: 'x' }], artifact_provides: { artifact_name: 'a' }, artifact_depends: { device_type: ['d'] } })) };
  const ti = { name: 'headers/0000/type-info', body: Buffer.from('{"type":"x"}') };
  await expectCode(t, assemble({ headerMembers: [hi, { name: 'scripts/../../../bin/sh', body: Buffer.from('x') }, ti] }).buffer, 'UNSAFE_PATH', {}, 'header ..');
  await expectCode(t, assemble({ headerMembers: [hi, { name: '/scripts/x', body: Buffer.from('x') }, ti] }).buffer, 'UNSAFE_PATH', {}, 'header absolute');
});

test('oversized header files and a header bomb are cut at the cap, quickly', async (t) => {
  const big = Buffer.alloc(2 << 20, 0x20);
  await expectCode(t, assemble({ headerMembers: [{ name: 'header-info', body: big }] }).buffer, 'TOO_LARGE', {}, '2 MiB header-info');
  // header.tar.gz inflating to 2 GiB: 32 concatenated gzip members of 64 MiB of zeros.
  const member = zlib.gzipSync(Buffer.alloc(64 << 20), { level: 9 });
  const bomb = Buffer.concat(Array.from({ length: 32 }, () => member));
  const version = Buffer.from('{"format":"mender","version":3}');
  const manifest = Buffer.from(`${sha(bomb)}  header.tar.gz\n${sha(version)}  version\n`);
  const artifact = buildTar([
    { name: 'version', body: version },
    { name: 'manifest', body: manifest },
    { name: 'header.tar.gz', body: bomb },
  ]);
  const started = Date.now();
  const before = process.memoryUsage().rss;
  await expectCode(t, artifact, 'TOO_LARGE', {}, 'gzip bomb');
  t.true(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  t.true(process.memoryUsage().rss - before < 256 << 20);
  // A compressed header member bigger than the cap is refused before decompression.
  await expectCode(t, artifact, 'TOO_LARGE', { maxHeaderBytes: 1 << 20 }, 'header member over the cap');
});

test('a payload bomb after the data end-of-archive is cut', async (t) => {
  const files = [{ name: 'f', body: Buffer.from('x') }];
  const tar = Buffer.concat([buildTar(files), Buffer.alloc(64 << 20)]);
  const gz = zlib.gzipSync(tar, { level: 1 });
  const { members } = assemble({ dataMembers: files });
  const swapped = members.map((m) => (m.name === 'data/0000.tar' ? { name: 'data/0000.tar.gz', body: gz } : m));
  await expectCode(t, buildTar(swapped), 'TOO_LARGE', {}, 'trailing zeros');
});

test('unknown, old and malformed versions', async (t) => {
  await expectCode(t, assemble({ version: Buffer.from('{"format":"mender","version":4}') }).buffer, 'UNKNOWN_VERSION');
  await expectCode(t, assemble({ version: Buffer.from('{"format":"mender","version":1}') }).buffer, 'UNKNOWN_VERSION');
  await expectCode(t, assemble({ version: Buffer.from('{"format":"other","version":3}') }).buffer, 'BAD_VERSION_FILE');
  await expectCode(t, assemble({ version: Buffer.from('not json') }).buffer, 'BAD_VERSION_FILE');
});

test('not a tar at all', async (t) => {
  await expectCode(t, pseudoRandom(8192, 4), 'NOT_TAR', {}, 'random bytes');
  await expectCode(t, zlib.gzipSync(assemble().buffer), 'NOT_TAR', {}, 'a gzipped artifact');
  await expectCode(t, Buffer.alloc(0), 'TRUNCATED', {}, 'empty');
  await expectCode(t, Buffer.from('hello'), 'TRUNCATED', {}, 'five bytes');
});

test('malformed headers: BAD_HEADER, DUPLICATE_MEMBER, ORDER', async (t) => {
  await expectCode(t, assemble({ headerInfo: { payloads: [{ type: 'x' }], artifact_provides: { artifact_name: 'a' }, artifact_depends: {} } }).buffer, 'BAD_HEADER', {}, 'no device_type');
  await expectCode(t, assemble({ headerInfo: { payloads: [], artifact_provides: { artifact_name: 'a' }, artifact_depends: { device_type: ['d'] } } }).buffer, 'BAD_HEADER', {}, 'no payloads');
  await expectCode(t, assemble({ typeInfo: { type: 'x', artifact_provides: { k: 1 } } }).buffer, 'BAD_HEADER', {}, 'non-string provides');
  await expectCode(t, assemble({ typeInfo: '{' }).buffer, 'BAD_HEADER', {}, 'type-info not an object');
  const hi = { name: 'header-info', body: Buffer.from(JSON.stringify({ payloads: [{ type: 'x' }], artifact_provides: { artifact_name: 'a' }, artifact_depends: { device_type: ['d'] } })) };
  const ti = { name: 'headers/0000/type-info', body: Buffer.from('{"type":"x"}') };
  await expectCode(t, assemble({ headerMembers: [ti, hi] }).buffer, 'ORDER', {}, 'type-info before header-info');
  await expectCode(t, assemble({ headerMembers: [hi, ti, ti] }).buffer, 'DUPLICATE_MEMBER', {}, 'type-info twice');
  await expectCode(t, assemble({ headerMembers: [hi] }).buffer, 'BAD_HEADER', {}, 'no type-info');
  await expectCode(t, assemble({ headerMembers: [hi, ti, { name: 'headers/0000/meta-data', body: Buffer.from('[1]') }] }).buffer, 'BAD_HEADER', {}, 'meta-data not an object');
  await expectCode(t, assemble({ dataMembers: [{ name: 'a', body: Buffer.from('1') }, { name: 'a', body: Buffer.from('1') }] }).buffer, ['DUPLICATE_MEMBER', 'MANIFEST_SYNTAX'], {}, 'payload file twice');
});

test('a source stream that fails mid-way rejects, and a corrupt tar header is BAD_HEADER', async (t) => {
  const buf = assemble().buffer;
  const failing = Readable.from(
    (async function* () {
      yield buf.subarray(0, 2048);
      throw new Error('connection reset');
    })(),
    { objectMode: false },
  );
  const e = await t.throwsAsync(readArtifact(failing));
  t.regex(e!.message, /connection reset/);
  const corrupt = Buffer.from(buf);
  corrupt[1024 + 10] = corrupt[1024 + 10]! ^ 0xff; // inside the manifest's tar header
  await expectCode(t, corrupt, 'BAD_HEADER');
});

test('format v2 artifacts are read', async (t) => {
  const h = await readArtifact(
    bufferStream(
      assemble({
        version: Buffer.from('{"format":"mender","version":2}'),
        headerMembers: [
          { name: 'header-info', body: Buffer.from('{"updates":[{"type":"rootfs-image"}],"device_types_compatible":["beaglebone"],"artifact_name":"old-1"}') },
          { name: 'headers/0000/files', body: Buffer.from('{"files":["one","two"]}') },
          { name: 'headers/0000/type-info', body: Buffer.from('{"type":"rootfs-image"}') },
        ],
      }).buffer,
    ),
  );
  t.is(h.formatVersion, 2);
  t.is(h.name, 'old-1');
  t.deepEqual(h.depends.device_type, ['beaglebone']);
  t.is(h.payloads[0]!.type, 'rootfs-image');
  t.is(h.payloads[0]!.files.length, 2);
});

test('augmented artifacts: header-augment overrides, unsigned, listed in manifest-augment', async (t) => {
  const { members } = assemble();
  const augHeader = buildTar([
    { name: 'header-info', body: Buffer.from('{"payloads":[{"type":"delta"}]}') },
    { name: 'headers/0000/type-info', body: Buffer.from('{"type":"delta","artifact_provides":{"delta.base":"abc"}}') },
  ]);
  const augManifest = Buffer.from(`${sha(augHeader)}  header-augment.tar\n`);
  const withAug = [members[0]!, members[1]!, { name: 'manifest-augment', body: augManifest }, members[2]!, { name: 'header-augment.tar', body: augHeader }, members[3]!];
  const h = await readArtifact(bufferStream(buildTar(withAug)));
  t.true(h.augmented);
  t.is(h.payloads[0]!.type, 'delta');
  t.is(h.payloads[0]!.typeInfo.artifact_provides!['delta.base'], 'abc');
  t.is(h.manifest.get('header-augment.tar'), sha(augHeader));
  const noAugManifest = [members[0]!, members[1]!, members[2]!, { name: 'header-augment.tar', body: augHeader }, members[3]!];
  await expectCode(t, buildTar(noAugManifest), 'UNEXPECTED_MEMBER');
  const tampered = [...withAug];
  tampered[4] = { name: 'header-augment.tar', body: Buffer.concat([augHeader.subarray(0, 600), Buffer.from('X'), augHeader.subarray(601)]) };
  await expectCode(t, buildTar(tampered), 'CHECKSUM_MISMATCH');
});

test('type-info: a type that disagrees with header-info is refused; the empty rootfs-image type of 4.0.0 is read', async (t) => {
  const hi = { payloads: [{ type: 'rootfs-image' }], artifact_provides: { artifact_name: 'a1' }, artifact_depends: { device_type: ['dev'] } };
  const e = await expectCode(t, assemble({ headerInfo: hi, typeInfo: { type: 'single-file' } }).buffer, 'BAD_HEADER');
  t.regex(e.message, /type-info type "single-file" does not match header-info payload type "rootfs-image"/);
  for (const type of ['', 'rootfs-image']) {
    const h = await readArtifact(bufferStream(assemble({ headerInfo: hi, typeInfo: { type } }).buffer));
    t.is(h.payloads[0]!.type, 'rootfs-image');
  }
});
