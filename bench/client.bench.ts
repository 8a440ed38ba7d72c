// Client install throughput into a file-backed partition, against the host's own pipeline limit
// measured in the same run on the same bytes:
//   zstd: `zstd -dc payload.zst | dd of=part bs=1M conv=notrunc,fsync`   (decompress + write + fsync)
//   hash: `cat payload | sha256sum`                                      (the hash we also compute)
// The client is the device bundle run as a child (`flipside install` on a host-sim board), timed
// end to end (start-up, headers, decompress, hash twice, positional writes, fsync, env flip), and
// its peak RSS taken from /usr/bin/time. Payloads of 64 and 256 MiB: RSS must stay flat.
// Targets: install >= 0.7x the zstd|dd pipeline; RSS(256 MiB) / RSS(64 MiB) < 1.25.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeArtifact } from '../artifact/writer.js';
import { HostSimBoard } from '../harness/host-sim/board.js';
import { clientBundle } from '../harness/host-sim/client-bundle.js';
import { makeImage } from './images.js';

const MiB = 1 << 20;
const SIZES = (process.env.BENCH_CLIENT_MIB ?? '64,256').split(',').map((s) => Number(s) * MiB);
const dir = mkdtempSync(join(tmpdir(), 'flipside-client-bench-'));

function sh(cmd: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} failed`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

interface Row {
  mib: number;
  clientS: number;
  pipelineS: number;
  hashS: number;
  rssMiB: number;
}

async function measure(size: number): Promise<Row> {
  const payload = join(dir, `rootfs-${size}.img`);
  await makeImage(payload, size);
  const art = join(dir, `rootfs-${size}.mender`);
  await writeArtifact({ type: 'rootfs-image', name: 'bench-1', deviceTypes: ['qemux86-64'], files: [payload], compression: 'zstd_fast' }, art);
  sh(`zstd -q -1 -f -o ${payload}.zst ${payload}`);

  const part = join(dir, 'pipeline-part.img');
  sh(`truncate -s ${size} ${part}`);
  const pipelineS = sh(`zstd -dc ${payload}.zst | dd of=${part} bs=1M conv=notrunc,fsync status=none`);
  const hashS = sh(`cat ${payload} | sha256sum`);
  rmSync(part);

  const board = await HostSimBoard.create({ partitionSize: size + MiB });
  try {
    await board.boot();
    const bundle = await clientBundle();
    const rssFile = join(dir, 'rss');
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, process.execPath, bundle, '--config', board.configFile, 'install', art], {
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
    });
    const clientS = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`install failed (${r.status}): ${r.stderr}`);
    const rssKiB = Number(spawnSync('cat', [rssFile], { encoding: 'utf8' }).stdout.trim());
    return { mib: size / MiB, clientS, pipelineS, hashS, rssMiB: rssKiB / 1024 };
  } finally {
    await board.destroy();
    rmSync(payload, { force: true });
    rmSync(`${payload}.zst`, { force: true });
    rmSync(art, { force: true });
  }
}

try {
  const rows: Row[] = [];
  for (const s of SIZES) rows.push(await measure(s));
  console.log('payload  client MB/s  zstd|dd MB/s  ratio  cat|sha256 MB/s  peak RSS');
  for (const r of rows) {
    const mbps = (s: number): string => (r.mib / s).toFixed(0).padStart(6);
    console.log(
      `${String(r.mib).padStart(4)} MiB  ${mbps(r.clientS)}       ${mbps(r.pipelineS)}       ${(r.pipelineS / r.clientS).toFixed(2)}x  ${mbps(r.hashS)}           ${r.rssMiB.toFixed(0)} MiB`,
    );
  }
  if (rows.length >= 2) {
    const ratio = rows.at(-1)!.rssMiB / rows[0]!.rssMiB;
    console.log(`RSS ${rows.at(-1)!.mib} MiB / ${rows[0]!.mib} MiB payload: ${ratio.toFixed(2)} (flat when < 1.25)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
