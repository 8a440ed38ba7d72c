// CLI start-up: `<cli> --help` of each of the four CLIs as users run them (bin/, the built bundles),
// whole process: wall (hrtime around the spawn), CPU (user+sys) and peak RSS from /usr/bin/time.
// Baseline in the same run, interleaved: `node -e 0` (Node's own start-up on this machine, under
// the same load). Target: ≤ 0.15 s wall and ≤ 60 MiB peak. Medians of BENCH_STARTUP_REPS (9).
// On a loaded box the wall time follows the load; the CPU time and the excess over bare Node show
// what start-up itself costs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNow, loadRange, median, reportTarget } from './report.js';

const REPS = Number(process.env.BENCH_STARTUP_REPS ?? 9);
const WALL_S = 0.15;
const RSS_MIB = 60;
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'flipside-startup-bench-'));
const CLIS = ['flipside', 'flipside-artifact', 'flipside-server', 'flipside-lab'];

interface Run {
  wallS: number;
  cpuS: number;
  rssMiB: number;
}

function timed(argv: string[]): Run {
  const tf = join(dir, 'time.out');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-o', tf, '-f', '%U %S %M', ...argv], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  const [u, s, m] = readFileSync(tf, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { wallS, cpuS: u! + s!, rssMiB: m! / 1024 };
}

try {
  // A stale bundle is rebuilt by its first run: that is not start-up.
  for (const c of CLIS) timed([process.execPath, join(root, 'bin', `${c}.js`), '--help']);
  const runs = new Map<string, Run[]>(CLIS.map((c) => [c, []]));
  const bare: Run[] = [];
  const loads: number[] = [];
  for (let i = 0; i < REPS; i++) {
    loads.push(loadNow());
    bare.push(timed([process.execPath, '-e', '0']));
    for (const c of CLIS) runs.get(c)!.push(timed([process.execPath, join(root, 'bin', `${c}.js`), '--help']));
  }
  loads.push(loadNow());
  const med = (xs: Run[], k: keyof Run) => median(xs.map((x) => x[k]));
  const bw = med(bare, 'wallS');
  const bc = med(bare, 'cpuS');
  console.log(`median of ${REPS}, interleaved; load ${loadRange(loads)}`);
  console.log(`node -e 0 (baseline)   wall ${bw.toFixed(3)} s  cpu ${bc.toFixed(3)} s  ${Math.max(...bare.map((r) => r.rssMiB)).toFixed(0)} MiB`);
  let allMet = true;
  for (const c of CLIS) {
    const xs = runs.get(c)!;
    const w = med(xs, 'wallS');
    const cpu = med(xs, 'cpuS');
    const rss = Math.max(...xs.map((r) => r.rssMiB));
    const met = w <= WALL_S && rss <= RSS_MIB;
    allMet &&= met;
    console.log(
      `${`${c} --help`.padEnd(26)}wall ${w.toFixed(3)} s  cpu ${cpu.toFixed(3)} s  ${rss.toFixed(0)} MiB  (+${((w - bw) * 1000).toFixed(0)} ms wall, +${((cpu - bc) * 1000).toFixed(0)} ms cpu over bare node)  target ≤ ${WALL_S} s and ≤ ${RSS_MIB} MiB: ${met ? 'MET' : 'NOT MET'}`,
    );
    reportTarget({
      what: `${c} --help`,
      value: `${w.toFixed(3)} s wall (cpu ${cpu.toFixed(3)} s), ${rss.toFixed(0)} MiB`,
      baseline: `node -e 0: ${bw.toFixed(3)} s (cpu ${bc.toFixed(3)} s)`,
      ratio: w / bw,
      target: `≤ ${WALL_S} s, ≤ ${RSS_MIB} MiB`,
      met,
      load: loadRange(loads),
    });
  }
  console.log(allMet ? 'startup bench: all targets met' : 'startup bench: some targets NOT met');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
