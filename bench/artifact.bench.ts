// Artifact read+verify against the machine's own limits and against Mender's own tool, every
// baseline measured in the same run on the same bytes, interleaved, median of BENCH_REPS (5):
//   in-process (the reader library bundled as on the device, in a child, from its first read to
//   the verified end) against
//     none: plain read + SHA-256 of the same file in Node (1 MiB reads into one buffer)  ≥ 0.7x
//     zstd: `zstd -dcq data.tar.zst > /dev/null` alone                                  ≥ 0.8x
//     gzip: `gzip -dc data.tar.gz > /dev/null` (informational)
//   whole process: `flipside-artifact validate` (bin/, as users run it) against Debian's
//   `mender-artifact validate` (3.9.0) on the same file: ≥ 1.2x faster, peak RSS < 64 MiB.
// A 256 MiB image (alternating 64 KiB blocks of pseudo-random bytes and zeros, about 2:1 like a
// rootfs) is written once per compression. Wall times on a shared box are noisy: the ratio is of
// the median runs, CPU time (user+sys) is printed beside it, and the load average with it.
// BENCH_ARTIFACT_ONLY=zstd (comma-separated labels) runs only those compressions.
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { build } from 'esbuild';
import { writeArtifact } from '../artifact/writer.js';
import { loadNow, loadRange, median, reportTarget } from './report.js';

const MiB = 1 << 20;
const SIZE = Number(process.env.BENCH_ARTIFACT_MIB ?? 256) * MiB;
const REPS = Number(process.env.BENCH_REPS ?? 5);
const ONLY = (process.env.BENCH_ARTIFACT_ONLY ?? '').split(',').filter(Boolean);
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'flipside-artifact-bench-'));
const cli = join(root, 'bin', 'flipside-artifact.js');

interface Run {
  secs: number;
  cpu: number;
  rssMiB: number;
}

/** A command under /usr/bin/time: wall (hrtime), user+sys and peak RSS. */
function timed(argv: string[], cwd = dir): Run {
  const tf = join(dir, 'time.out');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-o', tf, '-f', '%U %S %M', ...argv], { cwd, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  const [u, s, m] = readFileSync(tf, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { secs, cpu: u! + s!, rssMiB: m! / 1024 };
}

/** Runs in a child: the time the child itself measured around the work (no start-up). */
function inChild(script: string, args: string[]): Run {
  const r = spawnSync(process.execPath, [join(dir, script), ...args], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Run;
}

const REPORT = `
const cu = process.cpuUsage();
const hwm = Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
process.stdout.write(JSON.stringify({ secs: Number(process.hrtime.bigint() - t0) / 1e9, cpu: (cu.user + cu.system) / 1e6, rssMiB: hwm }));
`;
const READER = `
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
const { readArtifact } = createRequire(import.meta.url)('./reader.cjs');
const t0 = process.hrtime.bigint();
await readArtifact(process.argv[2]);
${REPORT}`;
const PLAIN = `
import { openSync, readSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
const t0 = process.hrtime.bigint();
const fd = openSync(process.argv[2]);
const b = Buffer.allocUnsafe(1 << 20);
const h = createHash('sha256');
for (let n; (n = readSync(fd, b, 0, b.length, null)) > 0; ) h.update(b.subarray(0, n));
h.digest();
${REPORT}`;

async function makeImage(path: string): Promise<void> {
  const out = createWriteStream(path);
  const block = 64 * 1024;
  let x = 0x9e3779b9;
  const zero = Buffer.alloc(block);
  for (let off = 0, i = 0; off < SIZE; off += block, i++) {
    let b = zero;
    if (i % 2 === 0) {
      b = Buffer.alloc(block);
      for (let j = 0; j < block; j += 4) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        b.writeUInt32LE(x >>> 0, j);
      }
    }
    if (!out.write(b)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

function menderVersion(): string | null {
  const r = spawnSync('mender-artifact', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? (/version (\S+)/.exec(r.stdout)?.[1] ?? 'unknown') : null;
}

/** Whether mender-artifact can validate this file at all (3.9.0 predates zstd). */
function menderCan(file: string): boolean {
  return spawnSync('mender-artifact', ['validate', file], { stdio: 'ignore' }).status === 0;
}

/** Median wall and CPU over the runs; the highest peak RSS (a cap holds for every run). */
const mid = (runs: Run[]): Run => ({ secs: median(runs.map((r) => r.secs)), cpu: median(runs.map((r) => r.cpu)), rssMiB: Math.max(...runs.map((r) => r.rssMiB)) });
const f2 = (n: number) => n.toFixed(2);
const results: Array<{ what: string; ok: boolean | null; line: string }> = [];
function row(what: string, ours: Run, base: Run | null, baseName: string, target: number | null, rssCap: number | null, load: string): void {
  const ratio = base ? base.secs / ours.secs : null;
  // Without a peer (mender-artifact 3.9.0 predates zstd) the RSS cap is still judged.
  const met = ratio !== null && target !== null ? ratio >= target && (rssCap === null || ours.rssMiB < rssCap) : rssCap !== null ? ours.rssMiB < rssCap : null;
  const line =
    `${what.padEnd(34)} ours ${f2(ours.secs)} s (cpu ${f2(ours.cpu)} s, ${ours.rssMiB.toFixed(0).padStart(3)} MiB)  ` +
    (base ? `${baseName} ${f2(base.secs)} s (cpu ${f2(base.cpu)} s, ${base.rssMiB.toFixed(0)} MiB)  ratio ${f2(ratio!)}x` : `${baseName}`) +
    (target !== null
      ? `  target ≥ ${target}x${rssCap !== null ? ` and < ${rssCap} MiB` : ''}: ${met ? 'MET' : 'NOT MET'}`
      : rssCap !== null
        ? `  target < ${rssCap} MiB: ${met ? 'MET' : 'NOT MET'}`
        : '  (informational)');
  results.push({ what, ok: met, line });
  console.log(`${line}  (load ${load})`);
  const rss = rssCap !== null ? `, ${ours.rssMiB.toFixed(0)} MiB` : '';
  reportTarget({
    what,
    value: `${f2(ours.secs)} s (cpu ${f2(ours.cpu)} s${rss})`,
    baseline: base ? `${baseName} ${f2(base.secs)} s (cpu ${f2(base.cpu)} s${rssCap !== null ? `, ${base.rssMiB.toFixed(0)} MiB` : ''})` : baseName,
    ratio,
    target: target !== null ? `≥ ${target}x${rssCap !== null ? `, < ${rssCap} MiB` : ''}` : rssCap !== null ? `< ${rssCap} MiB (no peer)` : 'informational',
    met,
    load,
  });
}

try {
  await build({ entryPoints: [join(root, 'artifact', 'reader.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node18', outfile: join(dir, 'reader.cjs'), logLevel: 'error' });
  writeFileSync(join(dir, 'reader.mjs'), READER);
  writeFileSync(join(dir, 'plain.mjs'), PLAIN);
  const image = join(dir, 'rootfs.img');
  await makeImage(image);
  const mv = menderVersion();
  console.log(`image ${SIZE / MiB} MiB in ${dir}; median of ${REPS}; mender-artifact ${mv ?? 'not installed'}; ${cli}`);

  for (const c of [
    { label: 'none', id: 'none', member: '', tool: '' },
    { label: 'gzip', id: 'gzip', member: 'data/0000.tar.gz', tool: 'gzip' },
    { label: 'zstd', id: 'zstd_fast', member: 'data/0000.tar.zst', tool: 'zstd' },
  ].filter((c) => ONLY.length === 0 || ONLY.includes(c.label))) {
    const art = join(dir, `${c.label}.mender`);
    await writeArtifact({ type: 'rootfs-image', name: 'bench', deviceTypes: ['bench'], files: [image], compression: c.id, tmpDir: dir }, art);
    const inner = join(dir, 'member');
    if (c.member) spawnSync('sh', ['-c', `tar -xOf ${art} ${c.member} > ${inner}`]);
    const withMender = mv !== null && menderCan(art);
    const runs: Record<string, Run[]> = { reader: [], base: [], cli: [], mender: [] };
    const loads = [loadNow()];
    for (let i = 0; i < REPS; i++) {
      runs.reader!.push(inChild('reader.mjs', [art]));
      runs.base!.push(c.tool ? timed(['sh', '-c', `${c.tool} -dcq ${inner} > /dev/null`]) : inChild('plain.mjs', [art]));
      runs.cli!.push(timed([process.execPath, cli, 'validate', art]));
      if (withMender) runs.mender!.push(timed(['mender-artifact', 'validate', art]));
      loads.push(loadNow());
    }
    const load = loadRange(loads);
    const mib = (statSync(art).size / MiB).toFixed(0);
    const baseName = c.tool ? `${c.tool} -dc` : 'read+sha256';
    row(`${c.label}: read+verify in-process`, mid(runs.reader!), mid(runs.base!), baseName, c.label === 'none' ? 0.7 : c.label === 'zstd' ? 0.8 : null, null, load);
    row(
      `${c.label}: validate (${mib} MiB file)`,
      mid(runs.cli!),
      withMender ? mid(runs.mender!) : null,
      withMender ? 'mender-artifact' : `mender-artifact ${mv ?? ''} cannot read ${c.label} artifacts`,
      withMender ? 1.2 : null,
      64,
      load,
    );
    rmSync(art);
    rmSync(inner, { force: true });
  }
  const missed = results.filter((r) => r.ok === false).map((r) => r.what);
  const met = results.filter((r) => r.ok === true).length;
  console.log(missed.length === 0 ? `artifact bench: all ${met} targets met` : `artifact bench: ${met} targets met; NOT met: ${missed.join('; ')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
