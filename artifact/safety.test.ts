// Failure modes the library's users ran into: a consumer that throws must not crash the process
// through an unhandled 'error' event on its payload stream, and writing a large artifact must not
// pile up listeners (MaxListenersExceededWarning).
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { findTool } from './compression.js';
import { ArtifactError } from './errors.js';
import { readArtifact } from './reader.js';
import { bufferStream, pseudoRandom, tempDir, writeToBuffer } from './testing/support.js';
import type { Compression } from './types.js';
import { writeArtifact } from './writer.js';

const image = pseudoRandom(3 << 20, 21);
const compressions: Compression[] = ['none', 'gzip', ...(findTool('zstd') ? (['zstd'] as const) : [])];

/** Fails the test if the process sees an uncaught exception or an unhandled rejection meanwhile. */
async function noCrash<T>(t: { fail: (m: string) => void }, run: () => Promise<T>): Promise<T> {
  const crashes: unknown[] = [];
  const onCrash = (e: unknown) => crashes.push(e);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  try {
    const r = await run();
    await new Promise((res) => setTimeout(res, 20)); // let a late 'error' event surface
    return r;
  } finally {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    if (crashes.length > 0) t.fail(`process would have crashed: ${String(crashes[0])}`);
  }
}

for (const c of compressions) {
  test(`a consumer that throws without an error listener does not crash the process (${c})`, async (t) => {
    const buf = await writeToBuffer({ type: 'rootfs-image', name: 'n', deviceTypes: ['d'], files: [{ name: 'img', content: image }], compression: c });
    // Throws before touching the stream.
    const e1 = await noCrash(t, () =>
      t.throwsAsync(
        readArtifact(bufferStream(buf), {
          onPayloadFile: async () => {
            await new Promise((res) => setImmediate(res));
            throw new Error('disk full');
          },
        }),
      ),
    );
    t.is(e1?.message, 'disk full');
    // Reads with a bare 'data' listener (no 'error' listener), then throws mid-stream.
    let seen = 0;
    const e2 = await noCrash(t, () =>
      t.throwsAsync(
        readArtifact(bufferStream(buf), {
          onPayloadFile: (_e, s) =>
            new Promise<void>((_resolve, reject) => {
              s.on('data', (chunk: Buffer) => {
                seen += chunk.length;
                if (seen > 256 * 1024) {
                  s.pause();
                  reject(new Error('no space left on device'));
                }
              });
            }),
        }),
      ),
    );
    t.is(e2?.message, 'no space left on device');
  });
}

test('a checksum mismatch after the consumer returned early does not crash the process', async (t) => {
  const buf = Buffer.from(await writeToBuffer({ type: 'rootfs-image', name: 'n', deviceTypes: ['d'], files: [{ name: 'img', content: image }], compression: 'none' }));
  const at = buf.indexOf(image.subarray(2 << 20, (2 << 20) + 64));
  t.true(at > 0);
  buf[at] = buf[at]! ^ 0xff;
  const e = await noCrash(t, () =>
    t.throwsAsync(
      readArtifact(bufferStream(buf), {
        onPayloadFile: async () => undefined, // never reads, adds no listener
      }),
      { instanceOf: ArtifactError },
    ),
  );
  t.is((e as ArtifactError).code, 'CHECKSUM_MISMATCH');
});

test('a consumer still reading gets the reader error on its stream', async (t) => {
  const buf = Buffer.from(await writeToBuffer({ type: 'rootfs-image', name: 'n', deviceTypes: ['d'], files: [{ name: 'img', content: image }], compression: 'none' }));
  const at = buf.indexOf(image.subarray(2 << 20, (2 << 20) + 64));
  buf[at] = buf[at]! ^ 0xff;
  let streamError: unknown = null;
  await noCrash(t, () =>
    t.throwsAsync(
      readArtifact(bufferStream(buf), {
        onPayloadFile: async (_e, s) => {
          try {
            for await (const _ of s) void _;
          } catch (err) {
            streamError = err;
          }
        },
      }),
      { instanceOf: ArtifactError },
    ),
  );
  t.is((streamError as ArtifactError | null)?.code, 'CHECKSUM_MISMATCH');
});

test('writing an artifact from a multi-MiB file raises no MaxListenersExceededWarning', async (t) => {
  const { dir, cleanup } = tempDir();
  const warnings: Error[] = [];
  const onWarning = (w: Error) => {
    if (w.name === 'MaxListenersExceededWarning') warnings.push(w);
  };
  process.on('warning', onWarning);
  try {
    const path = join(dir, 'rootfs.img');
    writeFileSync(path, pseudoRandom(6 << 20, 4));
    for (const c of ['none', 'gzip', ...(findTool('zstd') ? ['zstd'] : [])]) {
      // To a path, and to a slow stream that applies backpressure on every write.
      const spec = { type: 'rootfs-image', name: 'w', deviceTypes: ['d'], files: [path], compression: c, compressionLevel: 1 };
      await writeArtifact(spec, join(dir, `a-${c}.mender`));
      const slow = new Writable({
        highWaterMark: 4096,
        write(_chunk, _enc, cb) {
          setImmediate(cb);
        },
      });
      await writeArtifact(spec, slow);
    }
    await new Promise((res) => setImmediate(res)); // warnings are emitted on the next tick
    t.deepEqual(warnings.map((w) => w.message), []);
  } finally {
    process.off('warning', onWarning);
    cleanup();
  }
});
