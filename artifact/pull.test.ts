// payloadPuller: the payload's bytes without the stream, for the rootfs installer.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { findTool } from './compression.js';
import { payloadPuller, readArtifact, type ReaderExtras } from './reader.js';
import { pseudoRandom, tempDir, writeToBuffer } from './testing/support.js';
import type { Compression } from './types.js';

const image = pseudoRandom(3 * 1024 * 1024 + 77, 7);

const cases: Array<{ c: Compression; what: string; opts: ReaderExtras }> = [
  { c: 'none', what: 'none, file ring', opts: { syncReads: true } },
  { c: 'gzip', what: 'gzip', opts: {} },
  { c: 'zstd', what: 'zstd, in-process', opts: { engine: 'js' } },
  ...(findTool('zstd')
    ? [
        { c: 'zstd' as const, what: 'zstd, FIFO with blocking reads', opts: { syncReads: true } },
        { c: 'zstd' as const, what: 'zstd, tool stdout', opts: {} },
      ]
    : []),
];

async function artifactFile(t: { teardown: (f: () => void) => void }, c: Compression, corrupt = false): Promise<string> {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const content = Buffer.from(image);
  const buf = Buffer.from(await writeToBuffer({ type: 'rootfs-image', name: 'n', deviceTypes: ['d'], files: [{ name: 'img', content }], compression: c }));
  if (corrupt) {
    // Same length, other bytes: only the checksum can tell (a 'none' payload: found by its bytes).
    const at = buf.indexOf(image.subarray(2_000_000, 2_000_064));
    buf[at] ^= 1;
  }
  const f = join(dir, 'a.mender');
  writeFileSync(f, buf);
  return f;
}

for (const { c, what, opts } of cases) {
  test(`pulled chunks are the payload, and the end comes only after the checksum (${what})`, async (t) => {
    const f = await artifactFile(t, c);
    const copies: Buffer[] = [];
    await readArtifact(f, {
      ...opts,
      onPayloadFile: async (_e, s) => {
        const p = payloadPuller(s);
        if (!p) return t.fail('no puller for a reader stream');
        for (let b = await p.next(); b; b = await p.next()) copies.push(Buffer.from(b)); // valid until the next call
        t.is(await p.next(), null, 'stays ended');
      },
    });
    t.true(Buffer.concat(copies).equals(image));
  });
}

test('a checksum mismatch rejects the last pull and the read', async (t) => {
  const f = await artifactFile(t, 'none', true);
  let pullError: unknown = null;
  const e = await t.throwsAsync(
    readArtifact(f, {
      syncReads: true,
      onPayloadFile: async (_e, s) => {
        const p = payloadPuller(s)!;
        try {
          while (await p.next());
        } catch (err) {
          pullError = err;
          throw new Error('the consumer wraps it');
        }
      },
    }),
  );
  t.is((e as { code?: string }).code, 'CHECKSUM_MISMATCH', 'the reader reports its own error, not the wrapper');
  t.is((pullError as { code?: string }).code, 'CHECKSUM_MISMATCH');
});

test('a consumer that stops pulling early still has the rest verified', async (t) => {
  const f = await artifactFile(t, 'none', true);
  const e = await t.throwsAsync(
    readArtifact(f, {
      onPayloadFile: async (_e, s) => {
        await payloadPuller(s)!.next(); // one chunk, then done
      },
    }),
  );
  t.is((e as { code?: string }).code, 'CHECKSUM_MISMATCH');
});

test('a consumer error stops the read with that error', async (t) => {
  const f = await artifactFile(t, 'none');
  const e = await t.throwsAsync(
    readArtifact(f, {
      onPayloadFile: async (_e, s) => {
        await payloadPuller(s)!.next();
        throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      },
    }),
  );
  t.is((e as { code?: string }).code, 'ENOSPC');
});

test('only reader streams have a puller', (t) => {
  t.is(payloadPuller(new PassThrough()), null);
});
