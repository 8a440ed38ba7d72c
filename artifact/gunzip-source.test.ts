// GunzipSource: the same bytes and the same verdicts as zlib's own gunzip, whatever the chunking.
import test from 'ava';
import zlib from 'node:zlib';
import { ArtifactError } from './errors.js';
import { GunzipSource, gunzipInPlaceUsable } from './gunzip-source.js';
import { drainSource, pseudoRandom } from './testing/support.js';

async function* chunked(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

/** Everything the source hands out, fed `inChunk` bytes at a time. */
async function inflateAll(gz: Buffer, inChunk: number, recycle: boolean): Promise<Buffer> {
  const src = new GunzipSource(chunked(gz, inChunk), 'member');
  src.recycle = recycle;
  return drainSource(src);
}

// Half random, half zeros: both inflate paths (stored-like and long matches), 3 MiB of output.
const plain = Buffer.concat([pseudoRandom(1536 * 1024 + 13, 3), Buffer.alloc(1536 * 1024)]);
const gz = zlib.gzipSync(plain, { level: 6 });

test('this Node exposes the zlib handle as the source expects (else the reader falls back to the stream)', (t) => {
  t.true(gunzipInPlaceUsable());
});

for (const inChunk of [1, 7, 4096, 1 << 20, gz.length]) {
  for (const recycle of [false, true]) {
    test(`inflates to zlib's bytes (input chunks of ${inChunk}, recycle ${recycle})`, async (t) => {
      // Tiny chunks over the whole member would take long: a prefix of it is enough there.
      const small = inChunk < 64;
      const input = small ? zlib.gzipSync(plain.subarray(0, 50_000)) : gz;
      const expected = small ? plain.subarray(0, 50_000) : plain;
      t.true((await inflateAll(input, inChunk, recycle)).equals(expected));
    });
  }
}

test('concatenated members and trailing zero padding read as zlib.gunzipSync reads them', async (t) => {
  const two = Buffer.concat([zlib.gzipSync(Buffer.from('first ')), zlib.gzipSync(Buffer.from('second')), Buffer.alloc(700)]);
  const expected = zlib.gunzipSync(two);
  t.is(expected.toString(), 'first second');
  for (const size of [3, 64, two.length]) t.true((await inflateAll(two, size, true)).equals(expected), `chunks of ${size}`);
});

test('a truncated member, trailing garbage and a flipped byte are COMPRESSION errors', async (t) => {
  const bad: Array<[string, Buffer, RegExp]> = [
    ['truncated', gz.subarray(0, gz.length - 100), /unexpected end of file/],
    ['garbage after the member', Buffer.concat([zlib.gzipSync(Buffer.from('x')), Buffer.from('garbage')]), /incorrect header check/],
    ['not gzip', Buffer.from('plain text, not gzip at all'), /incorrect header check/],
  ];
  const flipped = Buffer.from(gz);
  flipped[Math.floor(gz.length / 2)]! ^= 0x55;
  bad.push(['a flipped byte', flipped, /./]);
  for (const [what, input, message] of bad) {
    const e = await t.throwsAsync(inflateAll(input, 4096, true), { instanceOf: ArtifactError }, what);
    t.is(e?.code, 'COMPRESSION', what);
    t.regex(e?.message ?? '', message, what);
  }
});

test('a member that inflates far gives the event loop a turn while it is read', async (t) => {
  // 64 MiB of zeros in one input chunk: no I/O between pulls, so only the source's own yield lets
  // the immediate run before the end.
  const total = 64 << 20;
  const zeros = zlib.gzipSync(Buffer.alloc(total), { level: 9 });
  const src = new GunzipSource(chunked(zeros, zeros.length), 'zeros');
  src.recycle = true;
  let seen = 0;
  let ranAt = -1;
  for await (const c of src.take(total)) {
    // Scheduled once the inflating is under way (before it, the immediate may run at once).
    if (seen === 0) setImmediate(() => (ranAt = seen));
    seen += c.length;
  }
  t.true(await src.atEnd());
  await src.close();
  t.true(ranAt > 0 && ranAt < total, `the immediate ran after ${ranAt} of ${total} bytes`);
});
