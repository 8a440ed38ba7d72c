// Install cost on the device, measured inside the qemu-aarch64 guest (Cortex-A57 under TCG, Node
// 18 from Debian): CPU time (user+sys of the command and its children, from /proc/<sh>/stat) per
// MiB of payload for
//   install:  `flipside install bench.mender` as the device runs it: the image's launcher
//             (/usr/bin/flipside, the start-up snapshot of this checkout's bundle) and the image's
//             zstd (the tool engine), a 64 MiB zstd rootfs payload into the inactive slot
//             (rollback between runs); informational, the same with fzstd in-process
//             (FLIPSIDE_ARTIFACT_ENGINE=js, what a device without zstd runs);
//   baseline: `zstd -dc payload.tar.zst | sha256sum > /dev/null` on the same compressed bytes (the
//             artifact's payload member), with the image's zstd, in the same guest.
// Start-up, informational: CPU of `node -e 0` against the client's `--version` from the snapshot
// (the launcher's later starts in a boot), its first start in a boot (the launcher checks the
// snapshot's fingerprint; page cache warm) and the bundle with its V8 code cache.
// Target: install CPU per MiB ≤ 1.3x the baseline's. One VM, booted once; every comparison runs
// BENCH_GUEST_REPS (2) times interleaved and the median is reported. The VM is killed at the end.
// Everything goes onto the data partition offline (debugfs), nothing crosses the console. The image
// (with this checkout's bundle, so rebuilt when the client changes: the snapshot step takes about a
// minute under qemu-user) is cached like the lab's.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeArtifact } from '../artifact/writer.js';
import { buildDeviceBundle } from '../client/build-device.js';
import { QemuVm } from '../harness/drivers/qemu/vm.js';
import { bootToShell, guestShell } from '../harness/drivers/qemu/testing/guest-steps.js';
import { REPO_ROOT } from '../paths.js';
import { buildImage } from '../qemu/image/build.js';
import { run } from '../qemu/image/exec.js';
import { CLIENT_DISABLE_FILE } from '../qemu/image/guest-files.js';
import { partition } from '../qemu/image/layout.js';
import { makeImage } from './images.js';
import { loadNow, loadRange, median, reportTarget } from './report.js';

const MiB = 1 << 20;
const PAYLOAD_MIB = Number(process.env.BENCH_GUEST_MIB ?? 64);
const REPS = Number(process.env.BENCH_GUEST_REPS ?? 2);
const TARGET = 1.3;
const runDir = join(REPO_ROOT, '.cache', 'qemu', 'bench-guest');
const CMD_TIMEOUT_MS = 20 * 60_000;

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

async function main(): Promise<void> {
  rmSync(runDir, { recursive: true, force: true });
  const files = join(runDir, 'data');
  mkdirSync(files, { recursive: true });
  const t0 = Date.now();
  const bundle = await buildDeviceBundle(join(runDir, 'flipside.cjs'));
  const img = await buildImage({ board: 'qemu-aarch64', version: 'bench-guest', clientBundle: bundle, artifact: false });
  console.log(`image ${img.cached ? 'cached' : 'built'} in ${((Date.now() - t0) / 1000).toFixed(1)} s${img.clientSnapshot && !img.clientSnapshot.built ? ` (no start-up snapshot: ${img.clientSnapshot.reason})` : img.clientSnapshot?.commands ? ' (start-up snapshot with the commands\' modules)' : img.clientSnapshot?.built ? ` (start-up snapshot without the commands' modules${img.clientSnapshot.reason ? `: ${img.clientSnapshot.reason}` : ''})` : ''}`);

  const payload = join(runDir, 'rootfs.img');
  await makeImage(payload, PAYLOAD_MIB * MiB);
  const art = join(files, 'bench.mender');
  await writeArtifact({ type: 'rootfs-image', name: 'bench-guest-2', deviceTypes: [img.board.deviceType], files: [payload], compression: 'zstd_fast' }, art);
  // The baseline decompresses the artifact's own compressed payload member.
  const member = spawnSync('tar', ['-xOf', art, 'data/0000.tar.zst'], { maxBuffer: 1 << 30 });
  if (member.status !== 0) throw new Error(`tar -xOf ${art}: ${member.stderr}`);
  writeFileSync(join(files, 'payload.tar.zst'), member.stdout);
  writeFileSync(join(files, 'empty'), '');
  rmSync(payload);

  const disk = join(runDir, 'disk.img');
  await run('cp', ['--sparse=always', '--reflink=auto', img.disk, disk]);
  // The daemon stays off (CLIENT_DISABLE_FILE): the guest runs only what is measured.
  const [disabledDir, disabledName] = CLIENT_DISABLE_FILE.replace(/^\/data\//, '').split('/');
  const put = [`mkdir ${disabledDir}`, `cd /${disabledDir}`, `write ${join(files, 'empty')} ${disabledName}`, 'cd /', 'mkdir bench', 'cd /bench'];
  for (const f of ['bench.mender', 'payload.tar.zst']) put.push(`write ${join(files, f)} ${f}`);
  writeFileSync(join(runDir, 'debugfs.cmds'), `${put.join('\n')}\n`);
  await run('debugfs', ['-w', '-f', join(runDir, 'debugfs.cmds'), `${disk}?offset=${partition(img.layout, 'data').offset}`]);

  const vm = await QemuVm.start({ board: img.board, disk, runDir: join(runDir, 'vm'), snapshot: true, ...(img.qemuBios ? { bios: img.qemuBios } : {}) });
  try {
    await bootToShell(vm);
    const sh = guestShell(vm, CMD_TIMEOUT_MS);
    const version = await sh.run('zstd --version');
    if (version.code !== 0) throw new Error(`the image has no working zstd: ${version.stdout}`);
    console.log(`guest zstd: ${version.stdout.trim()}`);
    // The baseline's pipe status is sha256sum's: check once that zstd reads the payload whole.
    const test = await sh.run('zstd -tq /data/bench/payload.tar.zst', { timeoutMs: CMD_TIMEOUT_MS });
    if (test.code !== 0) throw new Error(`zstd -t failed in the guest: ${test.stdout}`);
    const client = '/usr/bin/flipside';
    const baseline = 'zstd -dcq /data/bench/payload.tar.zst | sha256sum >/dev/null';
    const installShipped = `${client} install /data/bench/bench.mender >/dev/null 2>&1`;
    const installJs = `FLIPSIDE_ARTIFACT_ENGINE=js ${client} install /data/bench/bench.mender >/dev/null 2>&1`;
    const rollback = `${client} rollback >/dev/null 2>&1`;
    // Warm the page cache for the inputs and the client (512 MiB guest: they stay cached).
    await sh.run('cat /data/bench/bench.mender /data/bench/payload.tar.zst /usr/lib/flipside/* /usr/bin/node /usr/lib/*/libnode.so.* >/dev/null', { timeoutMs: CMD_TIMEOUT_MS });
    // Start-up, informational: Node alone, the client from the snapshot (a later start in the boot),
    // its first start in a boot (the launcher's fingerprint check: /run/flipside cleared) and the
    // bundle with its code cache (made by the first run), interleaved.
    const which = await sh.run(`FLIPSIDE_SNAPSHOT_DEBUG=1 ${client} --version 2>&1`, { timeoutMs: CMD_TIMEOUT_MS });
    console.log(`  ${which.stdout.trim().replace(/\n/g, ' | ')}`);
    const bundleStart = `FLIPSIDE_NO_SNAPSHOT=1 FLIPSIDE_CODE_CACHE_DIR=/data/bench/cc ${client} --version >/dev/null`;
    await guestCpu(sh, bundleStart);
    const starts = { node: [] as Cpu[], snapshot: [] as Cpu[], first: [] as Cpu[], cached: [] as Cpu[] };
    const startLoads = [loadNow()];
    for (let i = 0; i < REPS; i++) {
      starts.node.push(await guestCpu(sh, 'node -e 0'));
      starts.first.push(await guestCpu(sh, `rm -rf /run/flipside; ${client} --version >/dev/null`));
      starts.snapshot.push(await guestCpu(sh, `${client} --version >/dev/null`));
      starts.cached.push(await guestCpu(sh, bundleStart));
      console.log(`  start-up ${i + 1}: node -e 0 ${starts.node.at(-1)!.cpuS.toFixed(2)} s, --version from the snapshot ${starts.snapshot.at(-1)!.cpuS.toFixed(2)} s (first in the boot ${starts.first.at(-1)!.cpuS.toFixed(2)} s), from the bundle with its code cache ${starts.cached.at(-1)!.cpuS.toFixed(2)} s cpu (host load ${loadNow().toFixed(1)})`);
    }
    const med = (xs: Cpu[]) => median(xs.map((x) => x.cpuS));
    const nodeFloor = med(starts.node);
    const startup = med(starts.snapshot);
    reportTarget({
      what: 'qemu-aarch64 guest: client --version start-up CPU, snapshot',
      value: `${startup.toFixed(1)} s (first in a boot ${med(starts.first).toFixed(1)} s; bundle with code cache ${med(starts.cached).toFixed(1)} s)`,
      baseline: `node -e 0 ${nodeFloor.toFixed(1)} s`,
      ratio: startup / nodeFloor,
      target: 'informational',
      met: null,
      load: loadRange([...startLoads, loadNow()]),
    });
    const runs = { base: [] as Cpu[], shipped: [] as Cpu[], js: [] as Cpu[] };
    const loads: number[] = [];
    for (let i = 0; i < REPS; i++) {
      loads.push(loadNow());
      runs.base.push(await guestCpu(sh, baseline));
      console.log(`  run ${i + 1}: baseline cpu ${runs.base.at(-1)!.cpuS.toFixed(2)} s, wall ${runs.base.at(-1)!.wallS.toFixed(2)} s (host load ${loadNow().toFixed(1)})`);
      runs.shipped.push(await guestCpu(sh, installShipped));
      await guestCpu(sh, rollback);
      console.log(`  run ${i + 1}: install (zstd tool) cpu ${runs.shipped.at(-1)!.cpuS.toFixed(2)} s, wall ${runs.shipped.at(-1)!.wallS.toFixed(2)} s`);
      runs.js.push(await guestCpu(sh, installJs));
      await guestCpu(sh, rollback);
      console.log(`  run ${i + 1}: install (fzstd) cpu ${runs.js.at(-1)!.cpuS.toFixed(2)} s, wall ${runs.js.at(-1)!.wallS.toFixed(2)} s`);
      loads.push(loadNow());
    }
    const perMiB = (xs: Cpu[]) => (med(xs) * 1000) / PAYLOAD_MIB;
    const wall = (xs: Cpu[]) => median(xs.map((x) => x.wallS));
    const base = perMiB(runs.base);
    console.log(
      `qemu-aarch64 guest, ${PAYLOAD_MIB} MiB payload, median of ${REPS}; start-up: node -e 0 ${nodeFloor.toFixed(2)} s cpu, client --version from the snapshot ${startup.toFixed(2)} s cpu (included in install)`,
    );
    for (const [name, xs, target] of [
      ['install, zstd tool (as shipped)', runs.shipped, true],
      ['install, fzstd (no zstd on PATH)', runs.js, false],
    ] as const) {
      const ours = perMiB(xs);
      const ratio = ours / base;
      const met = ratio <= TARGET;
      const dataOnly = ((med(xs) - startup) * 1000) / PAYLOAD_MIB;
      console.log(`${name.padEnd(34)} ${ours.toFixed(1)} CPU ms/MiB (without start-up ${dataOnly.toFixed(1)}; wall ${wall(xs).toFixed(1)} s)  zstd -dc | sha256sum ${base.toFixed(1)} ms/MiB (wall ${wall(runs.base).toFixed(1)} s)  ratio ${ratio.toFixed(2)}x (${(dataOnly / base).toFixed(2)}x without start-up)  target ≤ ${TARGET}x: ${met ? 'MET' : 'NOT MET'}`);
      reportTarget({
        what: `qemu-aarch64 guest: ${name}, CPU per MiB`,
        value: `${ours.toFixed(1)} ms/MiB (start-up ${startup.toFixed(1)} s of it; without it ${dataOnly.toFixed(1)} ms/MiB, ${(dataOnly / base).toFixed(2)}x)`,
        baseline: `zstd -dc | sha256sum ${base.toFixed(1)} ms/MiB`,
        ratio,
        target: target ? `≤ ${TARGET}x` : `≤ ${TARGET}x (informational)`,
        met: target ? met : null,
        load: loadRange(loads),
      });
    }
  } finally {
    await vm.quit();
    rmSync(join(runDir, 'disk.img'), { force: true });
  }
}

await main();
