// Client install throughput into a file-backed partition, against the host's own pipeline limit
// measured in the same run on the same bytes:
//   zstd: `zstd -dc payload.zst | dd of=part bs=1M conv=notrunc,fsync`   (decompress + write + fsync)
//   hash: `cat payload | sha256sum`                                      (the hash we also compute)
// The client is the device bundle run as a child (`flipside install` on a host-sim board), timed
// end to end (start-up, headers, decompress, hash twice, positional writes, fsync, env flip), and
// its peak RSS taken from /usr/bin/time. Payloads of 64 and 256 MiB: RSS must stay flat.
// Targets: install >= 0.9x the zstd|dd pipeline at both sizes; RSS(256 MiB) / RSS(64 MiB) < 1.25.
// Each size runs the pipeline and the install twice, interleaved (the second install is the
// SkipUnchangedBlocks-off one below: same work, the slot already holds the bytes); the ratio is
// of the medians, with the load average beside it.
// The client runs with a warm V8 code cache (FLIPSIDE_CODE_CACHE_DIR, filled by one install before
// the timed ones), as on a device, where the first start writes it (client/device-loader.ts).
// Beside the end-to-end ratio the bench prints the data phase alone (Download to ArtifactInstall,
// from the client's own FLIPSIDE-STATE timestamps: read, decompress, hash, write, fsync) against
// the same pipeline, and the client's fixed cost (`flipside --version`): at 64 MiB the pipeline
// takes about as long as Node takes to start, so the end-to-end ratio there says more about
// start-up than about the data path.
// Both write a file on the same file system (the temp folder), its blocks allocated beforehand;
// the client with SkipUnchangedBlocks off (the default) in the timed runs and whole megabytes
// with O_DIRECT (client/install/direct-io.ts), dd through the page cache; both fsync once.
// Then SkipUnchangedBlocks: the same artifact installed again (rollback between) onto a target
// that already holds its bytes, with the option off and on: what reading before writing saves
// (or costs) here. On this host the partition is a file in the page cache, where a read is nearly
// free; on an SD card a read is ~3x cheaper than a write, so the gain there is larger.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeArtifact } from '../artifact/writer.js';
import { HostSimBoard } from '../harness/host-sim/board.js';
import { clientBundle } from '../harness/host-sim/client-bundle.js';
import { makeImage } from './images.js';
import { loadNow, loadRange, median, reportTarget } from './report.js';

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
  /** Download to ArtifactInstall, from the client's state timestamps. */
  dataS: number;
  startS: number;
  clientCpuS: number;
  pipelineS: number;
  hashS: number;
  rssMiB: number;
  sameOffS: number;
  sameOnS: number;
  load: string;
}

async function measure(size: number): Promise<Row> {
  const payload = join(dir, `rootfs-${size}.img`);
  await makeImage(payload, size);
  const art = join(dir, `rootfs-${size}.mender`);
  await writeArtifact({ type: 'rootfs-image', name: 'bench-1', deviceTypes: ['qemux86-64'], files: [payload], compression: 'zstd_fast' }, art);
  sh(`zstd -q -1 -f -o ${payload}.zst ${payload}`);

  // The same kind of target as the client's: a file on the same file system, its blocks written
  // (zeros) beforehand like the host-sim board's partition, so neither pays block allocation.
  const part = join(dir, 'pipeline-part.img');
  sh(`head -c ${size + MiB} /dev/zero > ${part} && sync ${part}`);
  const pipeline = (): number => sh(`zstd -dc ${payload}.zst | dd of=${part} bs=1M conv=notrunc,fsync status=none`);
  const hashS = sh(`cat ${payload} | sha256sum`);
  const loads = [loadNow()];

  const board = await HostSimBoard.create({ partitionSize: size + MiB });
  try {
    await board.boot();
    const bundle = await clientBundle();
    const rssFile = join(dir, 'rss');
    const env = { ...process.env, FLIPSIDE_CODE_CACHE_DIR: join(dir, 'code-cache') };
    const client = (args: string[]): { secs: number; rssMiB: number; cpuS: number; dataS: number } => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', '-o', rssFile, process.execPath, bundle, '--config', board.configFile, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
        env,
      });
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
      const [rss, user, sys] = readFileSync(rssFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      const stateAt = (name: string): number => {
        const line = r.stdout.split('\n').find((l) => l.includes(`"state":"${name}"`));
        return line ? (JSON.parse(line.slice(line.indexOf('{'))) as { t: number }).t : NaN;
      };
      return { secs, rssMiB: rss! / 1024, cpuS: user! + sys!, dataS: (stateAt('ArtifactInstall') - stateAt('Download')) / 1000 };
    };
    // Untimed: writes the code cache (with the functions an install compiles) and the page cache.
    client(['install', art]);
    client(['rollback']);
    const startS = median([client(['--version']).secs, client(['--version']).secs]);
    const setSkip = (on: boolean): void => {
      const c = JSON.parse(readFileSync(board.configFile, 'utf8')) as Record<string, unknown>;
      writeFileSync(board.configFile, JSON.stringify({ ...c, SkipUnchangedBlocks: on }));
    };
    const pipelineS = [pipeline()];
    const first = client(['install', art]);
    client(['rollback']);
    loads.push(loadNow());
    setSkip(false);
    pipelineS.push(pipeline());
    const sameOff = client(['install', art]);
    client(['rollback']);
    loads.push(loadNow());
    setSkip(true);
    const sameOn = client(['install', art]);
    return {
      mib: size / MiB,
      clientS: median([first.secs, sameOff.secs]),
      dataS: median([first.dataS, sameOff.dataS]),
      startS,
      clientCpuS: median([first.cpuS, sameOff.cpuS]),
      pipelineS: median(pipelineS),
      hashS,
      rssMiB: Math.max(first.rssMiB, sameOff.rssMiB),
      sameOffS: sameOff.secs,
      sameOnS: sameOn.secs,
      load: loadRange(loads),
    };
  } finally {
    rmSync(part, { force: true });
    await board.destroy();
    rmSync(payload, { force: true });
    rmSync(`${payload}.zst`, { force: true });
    rmSync(art, { force: true });
  }
}

try {
  const rows: Row[] = [];
  for (const s of SIZES) rows.push(await measure(s));
  console.log('payload  client MB/s  zstd|dd MB/s  ratio  target  cat|sha256 MB/s  peak RSS');
  let met = true;
  for (const r of rows) {
    const mbps = (s: number): string => (r.mib / s).toFixed(0).padStart(6);
    const ratio = r.pipelineS / r.clientS;
    met &&= ratio >= 0.9;
    console.log(
      `${String(r.mib).padStart(4)} MiB  ${mbps(r.clientS)}       ${mbps(r.pipelineS)}       ${ratio.toFixed(2)}x  ≥ 0.9x ${ratio >= 0.9 ? 'MET' : 'NOT MET'}  ${mbps(r.hashS)}           ${r.rssMiB.toFixed(0)} MiB  (load ${r.load})`,
    );
    reportTarget({
      what: `client install, ${r.mib} MiB zstd payload`,
      value: `${(r.mib / r.clientS).toFixed(0)} MB/s (${r.clientS.toFixed(2)} s, cpu ${r.clientCpuS.toFixed(2)} s, ${r.rssMiB.toFixed(0)} MiB)`,
      baseline: `zstd -dc | dd conv=fsync ${(r.mib / r.pipelineS).toFixed(0)} MB/s (${r.pipelineS.toFixed(2)} s)`,
      ratio,
      target: '≥ 0.9x',
      met: ratio >= 0.9,
      load: r.load,
    });
  }
  for (const r of rows) {
    const ratio = r.pipelineS / r.dataS;
    console.log(
      `${String(r.mib).padStart(4)} MiB data phase (Download to ArtifactInstall) ${(r.mib / r.dataS).toFixed(0)} MB/s, ${ratio.toFixed(2)}x of zstd|dd; client start-up (--version) ${r.startS.toFixed(2)} s (load ${r.load})`,
    );
    reportTarget({
      what: `client install data phase, ${r.mib} MiB (informational)`,
      value: `${(r.mib / r.dataS).toFixed(0)} MB/s (${r.dataS.toFixed(2)} s; start-up ${r.startS.toFixed(2)} s)`,
      baseline: `zstd -dc | dd conv=fsync ${(r.mib / r.pipelineS).toFixed(0)} MB/s`,
      ratio,
      target: 'informational',
      met: null,
      load: r.load,
    });
  }
  if (rows.length >= 2) {
    const ratio = rows.at(-1)!.rssMiB / rows[0]!.rssMiB;
    met &&= ratio < 1.25;
    console.log(`RSS ${rows.at(-1)!.mib} MiB / ${rows[0]!.mib} MiB payload: ${ratio.toFixed(2)} (flat when < 1.25): ${ratio < 1.25 ? 'MET' : 'NOT MET'}`);
    reportTarget({
      what: `client install RSS, ${rows.at(-1)!.mib} vs ${rows[0]!.mib} MiB payload`,
      value: `${rows.at(-1)!.rssMiB.toFixed(0)} MiB`,
      baseline: `${rows[0]!.rssMiB.toFixed(0)} MiB`,
      ratio,
      target: '< 1.25x (flat)',
      met: ratio < 1.25,
      load: rows.map((r) => r.load).join(', '),
    });
  }
  for (const r of rows) {
    console.log(
      `SkipUnchangedBlocks, ${r.mib} MiB re-install onto identical bytes: off ${r.sameOffS.toFixed(2)} s, on ${r.sameOnS.toFixed(2)} s (${(r.sameOffS / r.sameOnS).toFixed(2)}x)`,
    );
  }
  console.log(met ? 'client bench: all targets met' : 'client bench: some targets NOT met');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
