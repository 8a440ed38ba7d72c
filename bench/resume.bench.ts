// Download resume (issue #17): what the spool costs and what a resume costs, against a plain
// download measured in the same run on the same artifact (zstd, half-compressible, served over
// loopback with Range and an ETag). The client is the device bundle on a host-sim board.
//   plain:   `flipside install URL` with DownloadResumeAcrossRestarts=false (Mender's way, no spool)
//   spooled: the same with the spool and its checkpoints (the default)
//   resume:  killed once the spool held 90% of the artifact, then `flipside install URL` again:
//            90% replayed from the spool (read, re-hashed, re-decompressed, partition rewritten),
//            10% from the network
// Targets: spooled <= 1.3x plain; resume <= 1.2x plain (a resume never costs more than starting over).
import { spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeArtifact } from '../artifact/writer.js';
import { HostSimBoard } from '../harness/host-sim/board.js';
import { clientBundle } from '../harness/host-sim/client-bundle.js';
import { makeImage } from './images.js';

const MiB = 1 << 20;
const SIZE = Number(process.env.BENCH_RESUME_MIB ?? '64') * MiB;
const dir = mkdtempSync(join(tmpdir(), 'flipside-resume-bench-'));

async function serve(file: string): Promise<{ url: string; close(): void }> {
  const size = statSync(file).size;
  const server = http.createServer((req, res) => {
    const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    const start = m ? Number(m[1]) : 0;
    const headers: Record<string, string> = { 'Content-Length': String(size - start), ETag: '"bench"' };
    if (m) headers['Content-Range'] = `bytes ${start}-${size - 1}/${size}`;
    res.writeHead(m ? 206 : 200, headers);
    createReadStream(file, { start }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/bench.mender`, close: () => server.close() };
}

async function install(url: string, config: Record<string, unknown>, env: Record<string, string> = {}, board?: HostSimBoard): Promise<{ s: number; board: HostSimBoard; code: number | null }> {
  const b = board ?? (await HostSimBoard.create({ partitionSize: SIZE + MiB, config }));
  if (!board) await b.boot();
  const bundle = await clientBundle();
  const t0 = process.hrtime.bigint();
  // Not spawnSync: the artifact server runs in this process and must keep serving.
  const child = spawn(process.execPath, [bundle, '--config', b.configFile, 'install', url], { stdio: 'ignore', env: { ...process.env, ...env } });
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  return { s: Number(process.hrtime.bigint() - t0) / 1e9, board: b, code };
}

try {
  const payload = join(dir, 'rootfs.img');
  await makeImage(payload, SIZE);
  const art = join(dir, 'bench.mender');
  await writeArtifact({ type: 'rootfs-image', name: 'bench-1', deviceTypes: ['qemux86-64'], files: [payload], compression: 'zstd_fast' }, art);
  const artSize = statSync(art).size;
  const srv = await serve(art);
  try {
    const plain = await install(srv.url, { DownloadResumeAcrossRestarts: false });
    await plain.board.destroy();
    const spooled = await install(srv.url, {});
    await spooled.board.destroy();
    const killed = await install(srv.url, {}, { FLIPSIDE_TEST_KILL_AT_DOWNLOAD_BYTE: String(Math.floor(artSize * 0.9)) });
    const resumed = await install(srv.url, {}, {}, killed.board);
    await killed.board.destroy();
    if (plain.code !== 0 || spooled.code !== 0 || resumed.code !== 0 || killed.code !== null) throw new Error(`runs ended ${plain.code} ${spooled.code} ${killed.code} ${resumed.code}`);
    const mb = artSize / MiB;
    console.log(`artifact ${mb.toFixed(0)} MiB (zstd, ${SIZE / MiB} MiB payload)`);
    console.log(`plain download + install   ${plain.s.toFixed(2)} s  ${(mb / plain.s).toFixed(0)} MiB/s  1.00x`);
    console.log(`spooled (resumable)        ${spooled.s.toFixed(2)} s  ${(mb / spooled.s).toFixed(0)} MiB/s  ${(spooled.s / plain.s).toFixed(2)}x  (target <= 1.3x)`);
    console.log(`resume after a cut at 90%  ${resumed.s.toFixed(2)} s  ${(resumed.s / plain.s).toFixed(2)}x  (target <= 1.2x: replaying 90% locally vs starting over)`);
  } finally {
    srv.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
