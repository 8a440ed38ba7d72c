// The artifact reader feeding the runner, as the client wires them: payload bytes go from the
// artifact through the reader's hashing stream into the module's named pipes. A corrupted byte is
// caught by the reader after the module has seen the stream, and the module is killed, not left
// waiting on stream-next.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ArtifactError } from '../../../artifact/errors.js';
import { readArtifact } from '../../../artifact/reader.js';
import { writeArtifact } from '../../../artifact/writer.js';
import type { InstallContext } from '../types.js';
import { UpdateModuleInstaller } from './runner.js';
import { fakeModule, sha256, streamingDownload, tempDir } from './testing/support.js';

const FILES = [
  { name: 'image.bin', content: randomBytes(2 * 1024 * 1024 + 3) },
  { name: 'notes.txt', content: Buffer.from('two payload files\n') },
];

async function writeTestArtifact(t: ExecutionContext): Promise<string> {
  const path = join(await tempDir(t), 'streamer.mender');
  await writeArtifact(
    { type: 'streamer', kind: 'module-image', name: 'stream-1', deviceTypes: ['qemux86-64'], compression: 'none', files: FILES },
    path,
  );
  return path;
}

async function streamInto(t: ExecutionContext, artifact: string) {
  const dir = await tempDir(t);
  const out = join(dir, 'out');
  const mod = await fakeModule(dir, { Download: streamingDownload(out) });
  let installer: UpdateModuleInstaller | undefined;
  const read = readArtifact(artifact, {
    onHeaders: (headers) => {
      const ctx: InstallContext = { headers, workDir: join(dir, 'work'), current: { artifactName: 'r1', deviceType: 'qemux86-64' }, log: () => {} };
      installer = new UpdateModuleInstaller({ modulePath: mod.path, ctx, stateTimeoutMs: 20_000 });
    },
    onPayloadFile: (entry, stream) => installer!.storeFile(entry, stream),
  });
  return { read, installer: () => installer!, out, mod };
}

test('reader → runner: both files stream through the pipes byte-exact', async (t) => {
  const { read, installer, out, mod } = await streamInto(t, await writeTestArtifact(t));
  await read;
  await installer().downloadDone();
  for (const f of FILES) t.is(sha256(await readFile(join(out, f.name))), sha256(f.content));
  t.deepEqual(await mod.calls(), ['ProvidePayloadFileSizes', 'Download']);
});

test('reader → runner: a corrupted payload byte fails the read with CHECKSUM_MISMATCH and the module is stopped', async (t) => {
  const path = await writeTestArtifact(t);
  const bytes = await readFile(path);
  // Uncompressed payload: the file content sits verbatim in the artifact.
  const at = bytes.indexOf(FILES[0]!.content.subarray(0, 64)) + 1_000_000;
  bytes[at] = bytes[at]! ^ 0xff;
  await writeFile(path, bytes);
  const { read, installer, mod } = await streamInto(t, path);
  const err = await t.throwsAsync(read);
  t.true(err instanceof ArtifactError && err.code === 'CHECKSUM_MISMATCH', String(err));
  const started = Date.now();
  await installer().failure();
  await installer().cleanup();
  t.true(Date.now() - started < 5000);
  t.deepEqual(await mod.calls(), ['ProvidePayloadFileSizes', 'Download', 'ArtifactFailure', 'Cleanup']);
});
