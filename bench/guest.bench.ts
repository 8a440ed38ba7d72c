// Install cost on the device, measured inside the qemu-aarch64 guest (Cortex-A57 under TCG, Node
// 18 from Debian): CPU time (user+sys of the command and its children, from /proc/<sh>/stat) of
//   install:  `flipside install bench-<n>.mender` as the device runs it: the image's launcher
//             (/usr/bin/flipside, the start-up snapshot of this checkout's bundle) and the image's
//             zstd (the tool engine), a zstd rootfs payload into the inactive slot (rollback
//             between runs); informational, the same with fzstd in-process
//             (FLIPSIDE_ARTIFACT_ENGINE=js, what a device without zstd runs);
//   baseline: `zstd -dc payload-<n>.tar.zst | sha256sum > /dev/null` on the same compressed bytes
//             (the artifact's payload member), with the image's zstd, in the same guest;
// at two payload sizes (BENCH_GUEST_MIB, default 8 and 72 MiB: both pairs of files must fit the
// 128 MiB data partition). The target is CPU *per MiB*, a marginal cost: each command's slope
// between the two sizes (ms per extra MiB), ours against the baseline's. The whole command at the
// larger size is an informational row, with each side's fixed cost (the intercept) beside it.
// Informational floors, same slopes: `zstd -dc >/dev/null` (decompression alone),
// `zstd -dc | node read+sha256` (the same SHA-256 as ours behind the least a Node program does:
// busybox's sha256sum is plain C, Node's OpenSSL uses the ARMv8 SHA-256 instructions that QEMU's
// cortex-a57 has, as real A53/A57 parts with the crypto extension do) and
// `zstd -dc | dd of=<inactive slot> bs=1M conv=fsync` (decompress and write the slot with the
// system's tools).
// The guest's clock (BENCH_GUEST_CLOCK): `icount` (default) runs QEMU with -icount shift=0, so
// guest time advances 1 ns per instruction executed and "CPU" counts instructions: the same run
// gives the same numbers whatever the host's load. `host` leaves TCG's clock, the host's wall
// time: it stretches with the host's load (about 10x between load 1 and 20) and also charges
// TCG's translation of cold and JIT-written code (Node's start-up), which hardware does not pay.
// Start-up, informational: CPU of `node -e 0` against the client's `--version` from the snapshot
// (the launcher's later starts in a boot), its first start in a boot (the launcher checks the
// snapshot's fingerprint; page cache warm) and the bundle with its V8 code cache.
// A/B (BENCH_GUEST_AB=<a device bundle .cjs>, e.g. an older build of dist/device/flipside.cjs):
// that bundle and this checkout's, both started from the bundle with their code caches
// (`node <bundle> install`), interleaved with the rest: their slopes side by side.
// BENCH_GUEST_JS=0 leaves out the fzstd runs. One VM, booted once; every command runs
// BENCH_GUEST_REPS (2) times at each size, interleaved; medians are reported. The VM is killed at
// the end. Everything goes onto the data partition offline (debugfs), nothing crosses the
// console. The image (with this checkout's bundle, so rebuilt when the client changes: the
// snapshot step takes about a minute under qemu-user) is cached like the lab's.
import { copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeArtifact } from '../artifact/writer.js';
import { buildDeviceBundle } from '../client/build-device.js';
import { qemuOf } from '../boards/schema.js';
import { QemuVm } from '../harness/drivers/qemu/vm.js';
import { bootToShell, guestShell } from '../harness/drivers/qemu/testing/guest-steps.js';
import { REPO_ROOT } from '../paths.js';
import { buildImage } from '../qemu/image/build.js';
import { run } from '../qemu/image/exec.js';
import { CLIENT_DISABLE_FILE } from '../qemu/image/guest-files.js';
import { partition } from '../qemu/image/layout.js';
import { GUEST_BUNDLE } from '../qemu/image/snapshot.js';
import { makeImage } from './images.js';
import { loadNow, loadRange, median, reportTarget } from './report.js';

const MiB = 1 << 20;
/** Node reading stdin in 1 MiB blocking reads and hashing it: the floor of a Node installer's data path. */
const NODE_HASH = 'const fs=require("fs"),h=require("crypto").createHash("sha256"),b=Buffer.allocUnsafe(1<<20);let n;while((n=fs.readSync(0,b,0,b.length,null))>0)h.update(b.subarray(0,n));h.digest()';
const SIZES = (process.env.BENCH_GUEST_MIB ?? '8,72').split(',').map(Number);
const REPS = Number(process.env.BENCH_GUEST_REPS ?? 2);
const WITH_JS = process.env.BENCH_GUEST_JS !== '0';
const AB_BUNDLE = process.env.BENCH_GUEST_AB ? resolve(process.env.BENCH_GUEST_AB) : null;
const CLOCK = process.env.BENCH_GUEST_CLOCK ?? 'icount';
const TARGET = 1.3;
/** How the rows name the guest's clock. */
const CLOCK_NAME = CLOCK === 'icount' ? 'icount: instructions' : 'TCG time';
const runDir = join(REPO_ROOT, '.cache', 'qemu', 'bench-guest');
const CMD_TIMEOUT_MS = 20 * 60_000;

if (SIZES.length !== 2 || !SIZES.every((n) => Number.isInteger(n) && n > 0) || SIZES[0]! >= SIZES[1]!) {
  throw new Error(`BENCH_GUEST_MIB=${process.env.BENCH_GUEST_MIB}: give two payload sizes in MiB, smaller first (e.g. 8,72)`);
}
if (CLOCK !== 'icount' && CLOCK !== 'host') throw new Error(`BENCH_GUEST_CLOCK=${CLOCK}: icount or host`);
if (!Number.isInteger(REPS) || REPS < 1) throw new Error(`BENCH_GUEST_REPS=${process.env.BENCH_GUEST_REPS}: give a whole number ≥ 1`);
const [SMALL, LARGE] = SIZES as [number, number];

interface Cpu {
  cpuS: number;
  wallS: number;
}

/**
 * Runs `cmd` in a child shell of the guest; the shell's cutime+cstime after it (its children's
 * user+sys, clock ticks) and /proc/uptime around it.
 */
async function guestCpu(sh: ReturnType<typeof guestShell>, cmd: string): Promise<Cpu> {
  const script = `read u0 x </proc/uptime; ${cmd}; rc=$?; read u1 x </proc/uptime; set -- $(cat /proc/$$/stat); echo "CPU rc=$rc $u0 $u1 \${16} \${17} $(getconf CLK_TCK 2>/dev/null || echo 100)"`;
  const r = await sh.run(`sh -c '${script.replace(/'/g, `'\\''`)}'`, { timeoutMs: CMD_TIMEOUT_MS });
  const m = /CPU rc=(\d+) ([\d.]+) ([\d.]+) (\d+) (\d+) (\d+)/.exec(r.stdout);
  if (!m) throw new Error(`no CPU line from \`${cmd}\`: ${r.stdout.slice(-500)}`);
  if (m[1] !== '0') throw new Error(`\`${cmd}\` failed in the guest (status ${m[1]}): ${r.stdout.slice(-800)}`);
  const hz = Number(m[6]);
  return { cpuS: (Number(m[4]) + Number(m[5])) / hz, wallS: Number(m[3]) - Number(m[2]) };
}

/** One command measured at both sizes. */
interface Measured {
  name: string;
  /** The command for a payload of n MiB. */
  cmd: (n: number) => string;
  /** Run after each measurement, not measured (the rollback after an install). */
  after?: string;
  runs: Map<number, Cpu[]>;
}

/** ms of CPU per extra MiB between the two sizes, per rep (runs of one rep ran side by side), and their median. */
function slope(m: Measured): number {
  const s = m.runs.get(SMALL)!;
  const l = m.runs.get(LARGE)!;
  return median(l.map((x, i) => ((x.cpuS - s[i]!.cpuS) * 1000) / (LARGE - SMALL)));
}

const med = (xs: Cpu[]) => median(xs.map((x) => x.cpuS));

/** The intercept: CPU at zero payload, s. */
function fixed(m: Measured): number {
  return med(m.runs.get(LARGE)!) - (slope(m) * LARGE) / 1000;
}

async function main(): Promise<void> {
  rmSync(runDir, { recursive: true, force: true });
  const files = join(runDir, 'data');
  mkdirSync(files, { recursive: true });
  const t0 = Date.now();
  const bundle = await buildDeviceBundle(join(runDir, 'flipside.cjs'));
  const img = await buildImage({ board: 'qemu-aarch64', version: 'bench-guest', clientBundle: bundle, artifact: false });
  console.log(`image ${img.cached ? 'cached' : 'built'} in ${((Date.now() - t0) / 1000).toFixed(1)} s${img.clientSnapshot && !img.clientSnapshot.built ? ` (no start-up snapshot: ${img.clientSnapshot.reason})` : img.clientSnapshot?.commands ? ' (start-up snapshot with the commands\' modules)' : img.clientSnapshot?.built ? ` (start-up snapshot without the commands' modules${img.clientSnapshot.reason ? `: ${img.clientSnapshot.reason}` : ''})` : ''}`);

  const put: string[] = [];
  let bytes = 0;
  for (const n of SIZES) {
    const payload = join(runDir, `rootfs-${n}.img`);
    await makeImage(payload, n * MiB);
    const art = join(files, `bench-${n}.mender`);
    await writeArtifact({ type: 'rootfs-image', name: `bench-guest-${n}`, deviceTypes: [img.board.deviceType], files: [payload], compression: 'zstd_fast' }, art);
    // The baseline decompresses the artifact's own compressed payload member.
    const member = spawnSync('tar', ['-xOf', art, 'data/0000.tar.zst'], { maxBuffer: 1 << 30 });
    if (member.status !== 0) throw new Error(`tar -xOf ${art}: ${member.stderr}`);
    writeFileSync(join(files, `payload-${n}.tar.zst`), member.stdout);
    rmSync(payload);
    for (const f of [`bench-${n}.mender`, `payload-${n}.tar.zst`]) {
      put.push(`write ${join(files, f)} ${f}`);
      bytes += statSync(join(files, f)).size;
    }
  }
  if (AB_BUNDLE) {
    copyFileSync(AB_BUNDLE, join(files, 'ab.cjs'));
    put.push(`write ${join(files, 'ab.cjs')} ab.cjs`);
  }
  const dataMiB = partition(img.layout, 'data').size / MiB;
  console.log(`payloads ${SMALL} and ${LARGE} MiB: ${(bytes / MiB).toFixed(1)} MiB of files on the ${dataMiB} MiB data partition`);
  writeFileSync(join(files, 'empty'), '');

  const disk = join(runDir, 'disk.img');
  await run('cp', ['--sparse=always', '--reflink=auto', img.disk, disk]);
  // The daemon stays off (CLIENT_DISABLE_FILE): the guest runs only what is measured.
  const [disabledDir, disabledName] = CLIENT_DISABLE_FILE.replace(/^\/data\//, '').split('/');
  writeFileSync(join(runDir, 'debugfs.cmds'), `${[`mkdir ${disabledDir}`, `cd /${disabledDir}`, `write ${join(files, 'empty')} ${disabledName}`, 'cd /', 'mkdir bench', 'cd /bench', ...put].join('\n')}\n`);
  await run('debugfs', ['-w', '-f', join(runDir, 'debugfs.cmds'), `${disk}?offset=${partition(img.layout, 'data').offset}`]);

  // -icount shift=0: the guest's clock advances 1 ns per instruction executed, so its CPU times
  // count instructions and no longer stretch with the host's load (host: TCG's wall time).
  const q = qemuOf(img.board);
  const board = CLOCK === 'icount' ? { ...img.board, qemu: { ...q, machineArgs: [...q.machineArgs, '-icount', 'shift=0'] } } : img.board;
  const vm = await QemuVm.start({ board, disk, runDir: join(runDir, 'vm'), snapshot: true, ...(img.qemuBios ? { bios: img.qemuBios } : {}) });
  try {
    await bootToShell(vm);
    const sh = guestShell(vm, CMD_TIMEOUT_MS);
    const version = await sh.run('zstd --version');
    if (version.code !== 0) throw new Error(`the image has no working zstd: ${version.stdout}`);
    console.log(`guest zstd: ${version.stdout.trim()}`);
    const features = await sh.run(`grep -m1 '^Features' /proc/cpuinfo`);
    console.log(`guest CPU ${features.stdout.trim()}`);
    // Every file arrived whole (debugfs stops at a full partition without failing), and the
    // baseline's pipe status is sha256sum's: check once that zstd reads each payload whole.
    for (const n of SIZES) {
      const test = await sh.run(`zstd -tq /data/bench/payload-${n}.tar.zst && tar -tf /data/bench/bench-${n}.mender >/dev/null`, { timeoutMs: CMD_TIMEOUT_MS });
      if (test.code !== 0) throw new Error(`the ${n} MiB files are damaged in the guest (data partition full?): ${test.stdout}`);
    }
    // The slot the client installs into: the one not mounted as root.
    const slot = img.board.disk.rootfsB.device;
    const mounted = await sh.run(`grep -c '^${slot} ' /proc/mounts`);
    if (mounted.stdout.trim() !== '0') throw new Error(`${slot} is mounted in the guest: the write floor would overwrite the running system`);
    const client = '/usr/bin/flipside';
    const rollback = `${client} rollback >/dev/null 2>&1`;
    const measured = (name: string, cmd: (n: number) => string, after?: string): Measured => ({ name, cmd, ...(after ? { after } : {}), runs: new Map(SIZES.map((n) => [n, []])) });
    const base = measured('zstd -dc | sha256sum', (n) => `zstd -dcq /data/bench/payload-${n}.tar.zst | sha256sum >/dev/null`);
    const shipped = measured('install, zstd tool (as shipped)', (n) => `${client} install /data/bench/bench-${n}.mender >/dev/null 2>&1`, rollback);
    const js = WITH_JS ? measured('install, fzstd (no zstd on PATH)', (n) => `FLIPSIDE_ARTIFACT_ENGINE=js ${client} install /data/bench/bench-${n}.mender >/dev/null 2>&1`, rollback) : null;
    const unzstd = measured('zstd -dc >/dev/null', (n) => `zstd -dcq /data/bench/payload-${n}.tar.zst >/dev/null`);
    // The same SHA-256 as ours (Node's OpenSSL: the ARMv8 SHA-256 instructions where the CPU has
    // them, as the A57 does; busybox's sha256sum is plain C) behind the least Node can do.
    const nodeHash = measured('zstd -dc | node read+sha256', (n) => `zstd -dcq /data/bench/payload-${n}.tar.zst | node -e ${JSON.stringify(NODE_HASH)}`);
    const ddSlot = measured(`zstd -dc | dd of=${slot} conv=fsync`, (n) => `zstd -dcq /data/bench/payload-${n}.tar.zst | dd of=${slot} bs=1048576 conv=fsync 2>/dev/null`);
    const here = AB_BUNDLE ? measured('install, this checkout (bundle)', (n) => `node ${GUEST_BUNDLE} install /data/bench/bench-${n}.mender >/dev/null 2>&1`, rollback) : null;
    const ab = AB_BUNDLE ? measured(`install, ${AB_BUNDLE.split('/').pop()} (bundle)`, (n) => `node /data/bench/ab.cjs install /data/bench/bench-${n}.mender >/dev/null 2>&1`, rollback) : null;
    const all = [base, shipped, ...(js ? [js] : []), unzstd, nodeHash, ddSlot, ...(here && ab ? [here, ab] : [])];

    // Warm the page cache for the inputs and the client (512 MiB guest: they stay cached).
    await sh.run('cat /data/bench/* /usr/lib/flipside/* /usr/bin/node /usr/lib/*/libnode.so.* >/dev/null', { timeoutMs: CMD_TIMEOUT_MS });
    // Start-up, informational: Node alone, the client from the snapshot (a later start in the boot),
    // its first start in a boot (the launcher's fingerprint check: /run/flipside cleared) and the
    // bundle with its code cache (made by the first run), interleaved.
    const which = await sh.run(`FLIPSIDE_SNAPSHOT_DEBUG=1 ${client} --version 2>&1`, { timeoutMs: CMD_TIMEOUT_MS });
    console.log(`  ${which.stdout.trim().replace(/\n/g, ' | ')}`);
    const bundleStart = `FLIPSIDE_NO_SNAPSHOT=1 FLIPSIDE_CODE_CACHE_DIR=/data/bench/cc ${client} --version >/dev/null`;
    await guestCpu(sh, bundleStart);
    // The A/B bundles make their code caches (the default place) before they are measured.
    if (AB_BUNDLE) for (const b of [GUEST_BUNDLE, '/data/bench/ab.cjs']) await guestCpu(sh, `node ${b} --version >/dev/null`);
    const starts = { node: [] as Cpu[], snapshot: [] as Cpu[], first: [] as Cpu[], cached: [] as Cpu[] };
    const startLoads = [loadNow()];
    for (let i = 0; i < REPS; i++) {
      starts.node.push(await guestCpu(sh, 'node -e 0'));
      starts.first.push(await guestCpu(sh, `rm -rf /run/flipside; ${client} --version >/dev/null`));
      starts.snapshot.push(await guestCpu(sh, `${client} --version >/dev/null`));
      starts.cached.push(await guestCpu(sh, bundleStart));
      console.log(`  start-up ${i + 1}: node -e 0 ${starts.node.at(-1)!.cpuS.toFixed(2)} s, --version from the snapshot ${starts.snapshot.at(-1)!.cpuS.toFixed(2)} s (first in the boot ${starts.first.at(-1)!.cpuS.toFixed(2)} s), from the bundle with its code cache ${starts.cached.at(-1)!.cpuS.toFixed(2)} s cpu (host load ${loadNow().toFixed(1)})`);
    }
    const nodeFloor = med(starts.node);
    const startup = med(starts.snapshot);
    reportTarget({
      what: `qemu-aarch64 guest (${CLOCK_NAME}): client --version start-up CPU, snapshot`,
      value: `${startup.toFixed(1)} s (first in a boot ${med(starts.first).toFixed(1)} s; bundle with code cache ${med(starts.cached).toFixed(1)} s)`,
      baseline: `node -e 0 ${nodeFloor.toFixed(1)} s`,
      ratio: startup / nodeFloor,
      target: 'informational',
      met: null,
      load: loadRange([...startLoads, loadNow()]),
    });

    const loads: number[] = [];
    for (let i = 0; i < REPS; i++) {
      for (const n of SIZES) {
        loads.push(loadNow());
        const line: string[] = [];
        for (const m of all) {
          const c = await guestCpu(sh, m.cmd(n));
          if (m.after) await guestCpu(sh, m.after);
          m.runs.get(n)!.push(c);
          line.push(`${m.name} ${c.cpuS.toFixed(2)} s`);
        }
        console.log(`  run ${i + 1}, ${n} MiB (host load ${loadNow().toFixed(1)}): ${line.join(', ')}`);
      }
    }
    loads.push(loadNow());
    const load = loadRange(loads);
    const baseSlope = slope(base);
    console.log(`qemu-aarch64 guest (${CLOCK_NAME}), payloads ${SMALL} and ${LARGE} MiB, median of ${REPS}, host load ${load}: CPU per extra MiB (slope) and fixed cost (intercept)`);
    for (const m of all) {
      console.log(`  ${m.name.padEnd(40)} ${slope(m).toFixed(1).padStart(6)} ms/MiB (${(slope(m) / baseSlope).toFixed(2)}x the baseline's)  fixed ${fixed(m).toFixed(2)} s  whole at ${LARGE} MiB ${med(m.runs.get(LARGE)!).toFixed(2)} s`);
    }
    console.log(`  start-up: node -e 0 ${nodeFloor.toFixed(2)} s, client --version from the snapshot ${startup.toFixed(2)} s (part of install's fixed cost)`);
    for (const [m, target] of [[shipped, true], ...(js ? [[js, false] as const] : [])] as Array<[Measured, boolean]>) {
      const ratio = slope(m) / baseSlope;
      reportTarget({
        what: `qemu-aarch64 guest (${CLOCK_NAME}): ${m.name}, CPU per MiB (slope ${SMALL}→${LARGE} MiB)`,
        value: `${slope(m).toFixed(1)} ms/MiB`,
        baseline: `zstd -dc | sha256sum ${baseSlope.toFixed(1)} ms/MiB`,
        ratio,
        target: target ? `≤ ${TARGET}x` : `≤ ${TARGET}x (informational)`,
        met: target ? ratio <= TARGET : null,
        load,
      });
    }
    const whole = med(shipped.runs.get(LARGE)!);
    const wholeBase = med(base.runs.get(LARGE)!);
    reportTarget({
      what: `qemu-aarch64 guest (${CLOCK_NAME}): install (zstd tool), whole command at ${LARGE} MiB`,
      value: `${whole.toFixed(2)} s CPU (fixed ${fixed(shipped).toFixed(2)} s, of it --version ${startup.toFixed(2)} s)`,
      baseline: `${wholeBase.toFixed(2)} s (fixed ${fixed(base).toFixed(2)} s)`,
      ratio: whole / wholeBase,
      target: 'informational',
      met: null,
      load,
    });
    for (const m of [unzstd, nodeHash, ddSlot, ...(here && ab ? [here, ab] : [])]) {
      reportTarget({
        what: `qemu-aarch64 guest (${CLOCK_NAME}): ${m.name}, CPU per MiB (slope ${SMALL}→${LARGE} MiB)`,
        value: `${slope(m).toFixed(1)} ms/MiB (fixed ${fixed(m).toFixed(2)} s)`,
        baseline: `zstd -dc | sha256sum ${baseSlope.toFixed(1)} ms/MiB`,
        ratio: slope(m) / baseSlope,
        target: 'informational',
        met: null,
        load,
      });
    }
  } finally {
    await vm.quit();
    rmSync(join(runDir, 'disk.img'), { force: true });
  }
}

await main();
