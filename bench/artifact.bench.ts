// Artifact read+verify throughput and memory, against the host's own pipeline limits measured in
// the same run:
//   hash limit (the target):  none: `cat rootfs | sha256sum`    gzip: `gzip -dc data.tar.gz | sha256sum`
//                             zstd: `zstd -dc data.tar.zst | sha256sum`
//   raw limit (what the device client compares against, bench/client.bench.ts): the same with
//   `dd of=/dev/null bs=1M` in place of sha256sum. sha256sum is often several times slower than
//   Node's OpenSSL SHA-256 (SHA-NI), so the hash limit alone can hide a slow reader; both ratios
//   are printed, and the reader process's CPU time (user+sys, ms per 256 MiB) beside them, which
//   is far less noisy than wall time on a shared machine.
// A 256 MiB compressible image (alternating 64 KiB blocks of pseudo-random bytes and zeros) is
// written once per compression. The reader runs in a child process (the library bundled with
// esbuild, as on the device) that consumes each payload file into /dev/null and reports its peak
// RSS (VmHWM); the bundle is CommonJS, like the device bundle (client/build-device.ts).
// Targets: >= 0.8x the pipeline limit, peak RSS < 100 MiB.
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { build } from 'esbuild';
import { writeArtifact } from '../artifact/writer.js';

const MiB = 1 << 20;
const SIZE = Number(process.env.BENCH_ARTIFACT_MIB ?? 256) * MiB;
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'flipside-artifact-bench-'));

function sh(cmd: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} failed`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function makeImage(path: string): Promise<void> {
  const out = createWriteStream(path);
  const block = 64 * 1024;
  let x = 0x9e3779b9;
  const rnd = Buffer.alloc(block);
  const zero = Buffer.alloc(block);
  for (let off = 0, i = 0; off < SIZE; off += block, i++) {
    let b = zero;
    if (i % 2 === 0) {
      for (let j = 0; j < block; j += 4) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        rnd.writeUInt32LE(x >>> 0, j);
      }
      b = Buffer.from(rnd);
    }
    if (!out.write(b)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

const CHILD = `
import { createRequire } from 'node:module';
import { createWriteStream, readFileSync } from 'node:fs';
const { readArtifact } = createRequire(import.meta.url)('./reader.cjs');
import { pipeline } from 'node:stream/promises';
const [path, engine] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
let bytes = 0;
await readArtifact(path, {
  engine,
  onPayloadFile: async (e, s) => { bytes += e.size; await pipeline(s, createWriteStream('/dev/null')); },
});
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const cu = process.cpuUsage();
const cpu = (cu.user + cu.system) / 1e6;
const hwm = Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
process.stdout.write(JSON.stringify({ secs, bytes, hwm, cpu }));
`;

function readInChild(artifact: string, engine: string): { secs: number; hwm: number; cpu: number } {
  const r = spawnSync(process.execPath, [join(dir, 'child.mjs'), artifact, engine], { encoding: 'utf8', cwd: dir });
  if (r.status !== 0) throw new Error(`reader child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { secs: number; hwm: number; cpu: number };
}

const best = <T extends { secs: number }>(runs: T[]): T => runs.reduce((a, b) => (b.secs < a.secs ? b : a));
const mbps = (secs: number) => SIZE / MiB / secs;

try {
  await build({ entryPoints: [join(root, 'artifact', 'reader.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node18', outfile: join(dir, 'reader.cjs'), logLevel: 'error' });
  writeFileSync(join(dir, 'child.mjs'), CHILD);
  const image = join(dir, 'rootfs.img');
  await makeImage(image);
  console.log(`image: ${SIZE / MiB} MiB (half pseudo-random, half zeros) in ${dir}`);

  const cases = [
    { label: 'none', compression: 'none', member: 'data/0000.tar', limit: `cat ${image} | sha256sum`, raw: `cat ${image} | dd of=/dev/null bs=1M status=none` },
    { label: 'gzip', compression: 'gzip', member: 'data/0000.tar.gz', limit: `gzip -dc data.tar.gz | sha256sum`, raw: `gzip -dc data.tar.gz | dd of=/dev/null bs=1M status=none` },
    { label: 'zstd', compression: 'zstd_fast', member: 'data/0000.tar.zst', limit: `zstd -dcq data.tar.zst | sha256sum`, raw: `zstd -dcq data.tar.zst | dd of=/dev/null bs=1M status=none` },
  ];
  const rows: string[] = [];
  let ok = true;
  for (const c of cases) {
    const artifact = join(dir, `${c.label}.mender`);
    const t0 = Date.now();
    await writeArtifact({ type: 'rootfs-image', name: 'bench', deviceTypes: ['bench'], files: [image], compression: c.compression, tmpDir: dir }, artifact);
    const writeSecs = (Date.now() - t0) / 1000;
    const inner = c.label === 'none' ? '' : `data.tar.${c.label === 'gzip' ? 'gz' : 'zst'}`;
    if (inner) sh(`cd ${dir} && tar -xOf ${artifact} ${c.member} > ${inner}`);
    const limit = Math.min(sh(`cd ${dir} && ${c.limit}`), sh(`cd ${dir} && ${c.limit}`));
    const raw = Math.min(sh(`cd ${dir} && ${c.raw}`), sh(`cd ${dir} && ${c.raw}`));
    const engines = c.label === 'zstd' ? ['tool', 'js'] : ['tool'];
    for (const engine of engines) {
      const r = best([readInChild(artifact, engine), readInChild(artifact, engine), readInChild(artifact, engine)]);
      const ratio = limit / r.secs;
      const rss = r.hwm / MiB;
      const primary = engine === 'tool';
      if (primary && (ratio < 0.8 || rss >= 100)) ok = false;
      rows.push(
        `${`${c.label}${engines.length > 1 ? `/${engine}` : ''}`.padEnd(10)} artifact ${(statSync(artifact).size / MiB).toFixed(0).padStart(4)} MiB  ` +
          `write ${mbps(writeSecs).toFixed(0).padStart(5)} MB/s  read+verify ${mbps(r.secs).toFixed(0).padStart(5)} MB/s  ` +
          `hash limit ${mbps(limit).toFixed(0).padStart(5)} MB/s  ratio ${ratio.toFixed(2)}x  ` +
          `raw limit ${mbps(raw).toFixed(0).padStart(5)} MB/s  ratio ${(raw / r.secs).toFixed(2)}x  ` +
          `cpu ${((r.cpu * 1000 * 256 * MiB) / SIZE).toFixed(0).padStart(4)} ms/256MiB  peak RSS ${rss.toFixed(0)} MiB` +
          (primary ? (ratio >= 0.8 && rss < 100 ? '  OK' : '  BELOW TARGET') : '  (pure-JS fallback, informational)'),
      );
      console.log(rows[rows.length - 1]);
    }
    if (inner) rmSync(join(dir, inner));
    rmSync(artifact);
  }
  console.log(ok ? 'artifact bench: all targets met (>= 0.8x pipeline limit, RSS < 100 MiB)' : 'artifact bench: some targets missed');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
