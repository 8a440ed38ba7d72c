// The tar layer against archives made by GNU tar (pax and gnu long names) and against the header
// layout Go's archive/tar writes for mender-artifact.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ByteSource } from './byte-source.js';
import { ArtifactError } from './errors.js';
import { TarReader, encodeHeader, checkSafeName } from './tar.js';
import { splitTar, tempDir, VECTORS } from './testing/support.js';

async function list(tar: Buffer) {
  const r = new TarReader(new ByteSource((async function* () { yield tar; })(), 't'), 't');
  const out: Array<[string, number, string]> = [];
  for (let h = await r.next(); h; h = await r.next()) {
    const parts: Buffer[] = [];
    for await (const c of r.body()) parts.push(c);
    out.push([h.name, h.size, Buffer.concat(parts).toString()]);
  }
  return out;
}

for (const format of ['pax', 'gnu', 'ustar']) {
  test(`reads GNU tar --format=${format}, long names included`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.teardown(cleanup);
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${format === 'ustar' ? 'f'.repeat(90) : 'f'.repeat(120)}`;
    mkdirSync(join(dir, 'src', long.slice(0, long.lastIndexOf('/'))), { recursive: true });
    writeFileSync(join(dir, 'src', long), 'long\n');
    writeFileSync(join(dir, 'src', 'short'), 'short\n');
    execFileSync('tar', [`--format=${format}`, '-cf', join(dir, 'a.tar'), '-C', join(dir, 'src'), 'short', long]);
    const got = await list(readFileSync(join(dir, 'a.tar')));
    t.deepEqual(got, [['short', 6, 'short\n'], [long, 5, 'long\n']]);
  });
}

test('encodeHeader writes the bytes Go archive/tar wrote for the vectors', (t) => {
  const raw = readFileSync(join(VECTORS, 'rootfs-gzip.mender'));
  t.true(raw.subarray(0, 512).equals(encodeHeader({ name: 'version', size: 31, mode: 0o600 })));
  const manifestSize = splitTar(raw).find((m) => m.name === 'manifest')!.body.length;
  t.true(raw.subarray(1024, 1536).equals(encodeHeader({ name: 'manifest', size: manifestSize, mode: 0o600 })));
  const hdr = raw.subarray(2048, 2560);
  const mtime = new Date(parseInt(hdr.subarray(136, 147).toString(), 8) * 1000);
  t.true(hdr.equals(encodeHeader({ name: 'header.tar.gz', size: 351, mode: 0o600, mtime, owner: 'root' })));
});

test('checkSafeName', (t) => {
  for (const bad of ['../x', 'a/../../x', '/abs', '', 'a\\b']) {
    t.is(t.throws(() => checkSafeName(bad, 'here'), { instanceOf: ArtifactError })?.code, 'UNSAFE_PATH', bad);
  }
  t.notThrows(() => checkSafeName('headers/0000/type-info', 'here'));
  t.notThrows(() => checkSafeName('a..b', 'here'));
});

test('sizes over 8 GiB are written and read in GNU base-256', async (t) => {
  const h = encodeHeader({ name: 'big', size: 2 ** 33 + 5 });
  t.is(h[124], 0x80);
  const r = new TarReader(new ByteSource((async function* () { yield h; })(), 't'), 't');
  t.is((await r.next())!.size, 2 ** 33 + 5);
  t.is(t.throws(() => encodeHeader({ name: 'neg', size: -1 }), { instanceOf: ArtifactError })?.code, 'TOO_LARGE');
});
