// Download resume across power loss (issue #17), swept: the real client (the device bundle) runs
// `flipside install URL` on a host-sim board and is SIGKILLed once its download spool holds n
// bytes (FLIPSIDE_TEST_KILL_AT_DOWNLOAD_BYTE), for 200 offsets across a gzip-compressed artifact;
// then `flipside install URL` runs again. Every cut must end with the same deployment installed
// (no failure), the partition byte-equal to the payload, and the bytes downloaded for that cut
// within 1.1x of the artifact size (the spool's checkpoints are at most 64 KiB apart). Bytes
// downloaded = what the killed client had received (its spool) + what the server sent the second
// run; loopback lets the server run megabytes ahead into socket buffers at the cut, which a real
// link's TCP window would not, so the server's count for the killed run is not used.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { JsonStore } from '../../client/state/store.js';
import { deploymentRecordSchema } from '../../client/state/types.js';
import { HostSimBoard } from './board.js';
import { writeRootfsArtifact } from './artifacts.js';

// The boards' disks on tmpfs where there is one: fsync is what a sweep of 400 client runs would
// mostly wait for, and host-sim does not model what fsync protects (a SIGKILL keeps the page cache).
if (process.env.FLIPSIDE_RESUME_SWEEP_ON_DISK === undefined && existsSync('/dev/shm')) process.env.TMPDIR = '/dev/shm';

const CUTS = Number(process.env.FLIPSIDE_RESUME_CUTS ?? 200);
const LANES = 4;
const PAYLOAD = randomBytes(1 << 20);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Serves one artifact file at any path, with Range and an ETag; counts the body bytes per path and request. */
async function artifactServer(file: string): Promise<{ url: string; served: Map<string, number[]>; close(): Promise<void> }> {
  const size = (await stat(file)).size;
  const served = new Map<string, number[]>();
  const server = http.createServer((req, res) => {
    const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    const start = m ? Number(m[1]) : 0;
    const headers: Record<string, string> = { 'Content-Length': String(size - start), ETag: '"artifact-1"' };
    if (m) headers['Content-Range'] = `bytes ${start}-${size - 1}/${size}`;
    res.writeHead(m ? 206 : 200, headers);
    const path = req.url ?? '';
    const counts = served.get(path) ?? [];
    served.set(path, counts);
    const i = counts.push(0) - 1;
    const body = createReadStream(file, { start });
    body.on('data', (c) => (counts[i]! += c.length));
    body.pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

test(`power cut at ${CUTS} byte offsets of the download: each resumes the same deployment to the end`, async (t) => {
  t.timeout(10 * 60_000);
  const started = Date.now();
  const scratch = await HostSimBoard.create({ partitionSize: 2 << 20 });
  t.teardown(() => scratch.destroy());
  const art = await writeRootfsArtifact(scratch.dir, 'release-resume', PAYLOAD, { compression: 'gzip' });
  const size = (await stat(art)).size;
  const srv = await artifactServer(art);
  t.teardown(srv.close);
  // Offsets spread over the whole artifact (its header, the payload, the tail), one per cut.
  const offsets = Array.from({ length: CUTS }, (_, i) => 1 + Math.floor(((size - 2) * i) / (CUTS - 1)));
  const statuses: Record<string, number> = {};
  let downloadedBytes = 0;
  const problems: string[] = [];

  async function cut(n: number): Promise<void> {
    const b = await HostSimBoard.create({ partitionSize: 2 << 20 });
    try {
      await b.boot();
      const url = `${srv.url}/cut-${n}/release-resume.mender`;
      const first = await b.runClient(['install', url], { env: { FLIPSIDE_TEST_KILL_AT_DOWNLOAD_BYTE: String(n) } });
      const store = new JsonStore(b.dataDir);
      const before = await store.read('state', deploymentRecordSchema);
      if (first.signal !== 'SIGKILL' || before?.state !== 'Download') {
        problems.push(`cut ${n}: the first run was not cut in Download (${first.signal ?? first.code}, ${before?.state}): ${first.stderr.slice(-300)}`);
        return;
      }
      const spooled = (await stat(`${b.dataDir}/download/${before.id}/artifact.part`)).size;
      const again = await b.runClient(['install', url]);
      const after = await store.read('state', deploymentRecordSchema);
      const outcome = again.code === 0 && after?.state === 'ArtifactReboot' && after.id === before.id ? 'success' : 'failure';
      statuses[outcome] = (statuses[outcome] ?? 0) + 1;
      const requests = srv.served.get(new URL(url).pathname) ?? [];
      const downloaded = spooled + (requests[1] ?? 0);
      downloadedBytes += downloaded;
      if (outcome !== 'success') problems.push(`cut ${n}: ${again.code} ${after?.state} ${after?.id} vs ${before.id}: ${again.stdout.slice(-300)} ${again.stderr.slice(-300)}`);
      else if (sha((await readFile(b.partB)).subarray(0, PAYLOAD.length)) !== sha(PAYLOAD)) problems.push(`cut ${n}: partition B differs from the payload`);
      if (requests.length !== 2) problems.push(`cut ${n}: ${requests.length} requests`);
      if (downloaded > 1.1 * size) problems.push(`cut ${n}: ${downloaded} bytes downloaded for a ${size}-byte artifact`);
    } finally {
      await b.destroy();
    }
  }

  const queue = [...offsets];
  await Promise.all(
    Array.from({ length: LANES }, async () => {
      for (let n = queue.shift(); n !== undefined; n = queue.shift()) await cut(n);
    }),
  );
  const summary = { cuts: CUTS, finalStatuses: statuses, downloadedBytes, artifactBytes: size * CUTS, ratio: +(downloadedBytes / (size * CUTS)).toFixed(4), seconds: Math.round((Date.now() - started) / 1000) };
  t.log(JSON.stringify(summary));
  t.deepEqual(problems, []);
  t.deepEqual(statuses, { success: CUTS });
  t.true(downloadedBytes <= 1.1 * size * CUTS);
});
