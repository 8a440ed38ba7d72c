import test from 'ava';
import { ArtifactError } from './errors.js';
import { compressBuffer, createDecompressor, decompressBuffer, findTool, parseCompressionId } from './compression.js';
import { compressionFromName } from './compression-names.js';
import { pseudoRandom } from './testing/support.js';

const engines = ['tool', 'js'] as const;
const input = Buffer.concat([pseudoRandom(200_000, 8), Buffer.alloc(300_000)]);

for (const c of ['gzip', 'xz', 'zstd'] as const) {
  for (const engine of engines) {
    test(`${c} (${engine}): round trip, truncation and garbage are COMPRESSION errors`, async (t) => {
      const z = await compressBuffer({ compression: c }, input);
      t.true(z.length < input.length);
      t.true((await decompressBuffer(c, z, 1 << 24, 'x', engine)).equals(input));
      for (const bad of [z.subarray(0, z.length - 7), pseudoRandom(5000, 1)]) {
        const e = await t.throwsAsync(decompressBuffer(c, bad, 1 << 24, 'x', engine), { instanceOf: ArtifactError });
        t.is(e?.code, 'COMPRESSION');
      }
      const cap = await t.throwsAsync(decompressBuffer(c, z, 1000, 'x', engine), { instanceOf: ArtifactError });
      t.is(cap?.code, 'TOO_LARGE');
    });
  }
}

test('a failing tool surfaces as COMPRESSION with its stderr', async (t) => {
  const zst = await compressBuffer({ compression: 'zstd' }, input);
  const e = await t.throwsAsync(decompressBuffer('xz', zst, 1 << 24, 'x', 'tool'), { instanceOf: ArtifactError });
  t.is(e?.code, 'COMPRESSION');
  t.regex(e!.message, /^xz exited with status \d+/);
});

test('backpressure through the tool pipe: a slow reader keeps the buffer bounded', async (t) => {
  const zeros = await compressBuffer({ compression: 'zstd', level: 1 }, Buffer.alloc(48 << 20));
  const d = createDecompressor('zstd', 'tool');
  d.end(zeros);
  let total = 0;
  let maxBuffered = 0;
  for await (const chunk of d) {
    total += (chunk as Buffer).length;
    maxBuffered = Math.max(maxBuffered, d.readableLength);
    if (total < 4 << 20) await new Promise((r) => setImmediate(r));
  }
  t.is(total, 48 << 20);
  t.true(maxBuffered <= 1 << 20, `buffered ${maxBuffered}`);
});

test('compression ids and member names', (t) => {
  t.deepEqual(parseCompressionId('lzma'), { compression: 'xz', level: 6 });
  t.is(parseCompressionId('zstd_best').compression, 'zstd');
  t.is(t.throws(() => parseCompressionId('bzip2'), { instanceOf: ArtifactError })?.code, 'COMPRESSION');
  t.is(compressionFromName('header.tar.zst', 'header.tar'), 'zstd');
  t.is(compressionFromName('header.tar', 'header.tar'), 'none');
  t.is(compressionFromName('header.tar.bz2', 'header.tar'), null);
  t.is(findTool('surely-not-a-real-tool-xyz'), null);
  t.truthy(findTool('zstd'));
});
