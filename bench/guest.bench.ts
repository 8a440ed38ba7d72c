// Install cost on the device, measured inside the qemu-aarch64 guest (Cortex-A57 under TCG, Node
// 18 from Debian): CPU time (user+sys of the command and its children, from /proc/<sh>/stat) per
// MiB of payload for
//   install:  `node flipside.cjs install bench.mender` (this checkout's device bundle, a 64 MiB
//             zstd rootfs payload into the inactive slot; rollback between runs), with the zstd
//             engine the image ships (fzstd: the image has no zstd tool), and with
//             BENCH_GUEST_TOOL=1 also with Debian's zstd on PATH (the tool engine; slower here);
//   baseline: `zstd -dc data/0000.tar.zst | sha256sum > /dev/null` on the same compressed bytes,
//             in the same guest (Debian's arm64 zstd and its two libraries, put on /data).
// Start-up, informational: CPU of `node -e 0` against the client's `--version` without and with
// its V8 code cache (client/device-loader.ts; the cache is made by a first run on /data/bench/cc,
// and the installs use it too).
// Target: install CPU per MiB ≤ 1.3x the baseline's. One VM, booted once; every comparison runs
// BENCH_GUEST_REPS (2) times interleaved and the median is reported. The VM is killed at the end.
// Everything goes onto the data partition offline (debugfs), nothing crosses the console.
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeArtifact } from '../artifact/writer.js';
import { buildDeviceBundle } from '../client/build-device.js';
import { QemuVm } from '../harness/drivers/qemu/vm.js';
import { bootToShell, guestShell } from '../harness/drivers/qemu/testing/guest-steps.js';
import { REPO_ROOT } from '../paths.js';
import { buildImage } from '../qemu/image/build.js';
import { downloadPackages, extractDeb, resolvePackages } from '../qemu/image/debs.js';
import { run } from '../qemu/image/exec.js';
import { clientConfig } from '../qemu/image/guest-files.js';
import { partition } from '../qemu/image/layout.js';
import { makeImage } from './images.js';
import { loadNow, loadRange, median, reportTarget } from './report.js';

const MiB = 1 << 20;
const PAYLOAD_MIB = Number(process.env.BENCH_GUEST_MIB ?? 64);
const REPS = Number(process.env.BENCH_GUEST_REPS ?? 2);
const TARGET = 1.3;
const WITH_TOOL = process.env.BENCH_GUEST_TOOL === '1';
const runDir = join(REPO_ROOT, '.cache', 'qemu', 'bench-guest');
const CMD_TIMEOUT_MS = 20 * 60_000;

/** Debian's arm64 zstd (statically linked libzstd) and the two libraries it loads that the image lacks. */
async function guestZstd(into: string): Promise<void> {
  const pkgs = await resolvePackages('arm64', {}, ['zstd', 'liblz4-1', 'liblzma5']);
  const debs = await downloadPackages(pkgs, join(REPO_ROOT, '.cache', 'qemu', 'debs', 'arm64'));
  const tree = join(runDir, 'zstd-tree');
  rmSync(tree, { recursive: true, force: true });
  for (const d of debs) await extractDeb(d, tree);
  mkdirSync(into, { recursive: true });
  copyFileSync(join(tree, 'usr/bin/zstd'), join(into, 'zstd'));
  const wanted = new Set(['liblz4.so.1', 'liblzma.so.5']);
  for (const d of ['usr/lib/aarch64-linux-gnu', 'lib/aarch64-linux-gnu']) {
    if (!existsSync(join(tree, d))) continue;
    for (const f of readdirSync(join(tree, d))) if (wanted.delete(f)) copyFileSync(join(tree, d, f), join(into, f));
  }
  if (wanted.size) throw new Error(`not in the zstd packages: ${[...wanted].join(', ')}`);
}

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
  // A plain image (no client inside, so its cache entry does not change with the client's code):
  // the bundle and its config go onto /data with the payloads.
  const img = await buildImage({ board: 'qemu-aarch64', version: 'bench-guest', artifact: false });
  console.log(`image ${img.cached ? 'cached' : 'built'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await buildDeviceBundle(join(files, 'flipside.cjs'));
  writeFileSync(join(files, 'bench.conf'), JSON.stringify(clientConfig(img.layout, { serverUrl: 'http://10.0.2.100:80' })));
  await guestZstd(join(files, 'bin'));

  const payload = join(runDir, 'rootfs.img');
  await makeImage(payload, PAYLOAD_MIB * MiB);
  const art = join(files, 'bench.mender');
  await writeArtifact({ type: 'rootfs-image', name: 'bench-guest-2', deviceTypes: [img.board.deviceType], files: [payload], compression: 'zstd_fast' }, art);
  // The baseline decompresses the artifact's own compressed payload member.
  const member = spawnSync('tar', ['-xOf', art, 'data/0000.tar.zst'], { maxBuffer: 1 << 30 });
  if (member.status !== 0) throw new Error(`tar -xOf ${art}: ${member.stderr}`);
  writeFileSync(join(files, 'payload.tar.zst'), member.stdout);
  rmSync(payload);

  const disk = join(runDir, 'disk.img');
  await run('cp', ['--sparse=always', '--reflink=auto', img.disk, disk]);
  const put = ['mkdir bench', 'cd /bench', 'mkdir bin'];
  for (const f of ['flipside.cjs', 'bench.conf', 'bench.mender', 'payload.tar.zst']) put.push(`write ${join(files, f)} ${f}`);
  put.push('cd /bench/bin');
  for (const f of readdirSync(join(files, 'bin'))) put.push(`write ${join(files, 'bin', f)} ${f}`);
  writeFileSync(join(runDir, 'debugfs.cmds'), `${put.join('\n')}\n`);
  await run('debugfs', ['-w', '-f', join(runDir, 'debugfs.cmds'), `${disk}?offset=${partition(img.layout, 'data').offset}`]);

  const vm = await QemuVm.start({ board: img.board, disk, runDir: join(runDir, 'vm'), snapshot: true, ...(img.qemuBios ? { bios: img.qemuBios } : {}) });
  try {
    await bootToShell(vm);
    const sh = guestShell(vm, CMD_TIMEOUT_MS);
    const ZSTD = 'LD_LIBRARY_PATH=/data/bench/bin /data/bench/bin/zstd';
    const version = await sh.run(`chmod 755 /data/bench/bin/zstd && ${ZSTD} --version`);
    if (version.code !== 0) throw new Error(`zstd does not run in the guest: ${version.stdout}`);
    console.log(`guest zstd: ${version.stdout.trim()}`);
    // The baseline's pipe status is sha256sum's: check once that zstd reads the payload whole.
    const test = await sh.run(`${ZSTD} -tq /data/bench/payload.tar.zst`, { timeoutMs: CMD_TIMEOUT_MS });
    if (test.code !== 0) throw new Error(`zstd -t failed in the guest: ${test.stdout}`);
    const bundle = 'node /data/bench/flipside.cjs --config /data/bench/bench.conf';
    const client = `FLIPSIDE_CODE_CACHE_DIR=/data/bench/cc ${bundle}`;
    const baseline = `${ZSTD} -dcq /data/bench/payload.tar.zst | sha256sum >/dev/null`;
    const installJs = `FLIPSIDE_ARTIFACT_ENGINE=js ${client} install /data/bench/bench.mender >/dev/null 2>&1`;
    const installTool = `PATH=/data/bench/bin:$PATH LD_LIBRARY_PATH=/data/bench/bin ${client} install /data/bench/bench.mender >/dev/null 2>&1`;
    const rollback = `${client} rollback >/dev/null 2>&1`;
    // Warm the page cache for both inputs (512 MiB guest: both stay cached).
    await sh.run('cat /data/bench/bench.mender /data/bench/payload.tar.zst /data/bench/flipside.cjs /usr/bin/node >/dev/null', { timeoutMs: CMD_TIMEOUT_MS });
    // Start-up, informational: Node alone, the client's --version compiled from source and from
    // its code cache (made by the first run), interleaved.
    await guestCpu(sh, `${client} --version >/dev/null`);
    const starts = { node: [] as Cpu[], cold: [] as Cpu[], cached: [] as Cpu[] };
    const startLoads = [loadNow()];
    for (let i = 0; i < REPS; i++) {
      starts.node.push(await guestCpu(sh, 'node -e 0'));
      starts.cold.push(await guestCpu(sh, `FLIPSIDE_CODE_CACHE_DIR= ${bundle} --version >/dev/null`));
      starts.cached.push(await guestCpu(sh, `${client} --version >/dev/null`));
      console.log(`  start-up ${i + 1}: node -e 0 ${starts.node.at(-1)!.cpuS.toFixed(2)} s, --version without cache ${starts.cold.at(-1)!.cpuS.toFixed(2)} s, with cache ${starts.cached.at(-1)!.cpuS.toFixed(2)} s cpu (host load ${loadNow().toFixed(1)})`);
    }
    const nodeFloor = { cpuS: median(starts.node.map((x) => x.cpuS)) };
    const startup = { cpuS: median(starts.cached.map((x) => x.cpuS)) };
    const coldStart = median(starts.cold.map((x) => x.cpuS));
    reportTarget({
      what: 'qemu-aarch64 guest: client --version start-up CPU, code cache',
      value: `${startup.cpuS.toFixed(1)} s (without the cache ${coldStart.toFixed(1)} s)`,
      baseline: `node -e 0 ${nodeFloor.cpuS.toFixed(1)} s`,
      ratio: startup.cpuS / nodeFloor.cpuS,
      target: 'informational',
      met: null,
      load: loadRange([...startLoads, loadNow()]),
    });
    const runs = { base: [] as Cpu[], js: [] as Cpu[], tool: [] as Cpu[] };
    const loads: number[] = [];
    for (let i = 0; i < REPS; i++) {
      loads.push(loadNow());
      runs.base.push(await guestCpu(sh, baseline));
      console.log(`  run ${i + 1}: baseline cpu ${runs.base.at(-1)!.cpuS.toFixed(2)} s, wall ${runs.base.at(-1)!.wallS.toFixed(2)} s (host load ${loadNow().toFixed(1)})`);
      runs.js.push(await guestCpu(sh, installJs));
      await guestCpu(sh, rollback);
      console.log(`  run ${i + 1}: install (fzstd) cpu ${runs.js.at(-1)!.cpuS.toFixed(2)} s, wall ${runs.js.at(-1)!.wallS.toFixed(2)} s`);
      if (WITH_TOOL) {
        runs.tool.push(await guestCpu(sh, installTool));
        await guestCpu(sh, rollback);
        console.log(`  run ${i + 1}: install (zstd tool) cpu ${runs.tool.at(-1)!.cpuS.toFixed(2)} s, wall ${runs.tool.at(-1)!.wallS.toFixed(2)} s`);
      }
      loads.push(loadNow());
    }
    const perMiB = (xs: Cpu[]) => (median(xs.map((x) => x.cpuS)) * 1000) / PAYLOAD_MIB;
    const wall = (xs: Cpu[]) => median(xs.map((x) => x.wallS));
    const base = perMiB(runs.base);
    console.log(
      `qemu-aarch64 guest, ${PAYLOAD_MIB} MiB payload, median of ${REPS}; start-up: node -e 0 ${nodeFloor.cpuS.toFixed(2)} s cpu, client --version ${startup.cpuS.toFixed(2)} s cpu with the code cache (included in install), ${coldStart.toFixed(2)} s without`,
    );
    for (const [name, xs, target] of [
      ['install, fzstd (as shipped)', runs.js, true],
      ...(WITH_TOOL ? [['install, zstd tool on PATH', runs.tool, false] as const] : []),
    ] as const) {
      const ours = perMiB(xs);
      const ratio = ours / base;
      const met = ratio <= TARGET;
      console.log(`${name.padEnd(30)} ${ours.toFixed(1)} CPU ms/MiB (wall ${wall(xs).toFixed(1)} s)  zstd -dc | sha256sum ${base.toFixed(1)} ms/MiB (wall ${wall(runs.base).toFixed(1)} s)  ratio ${ratio.toFixed(2)}x  target ≤ ${TARGET}x: ${met ? 'MET' : 'NOT MET'}`);
      reportTarget({
        what: `qemu-aarch64 guest: ${name}, CPU per MiB`,
        value: `${ours.toFixed(1)} ms/MiB (start-up ${startup.cpuS.toFixed(1)} s of it; node -e 0 ${nodeFloor.cpuS.toFixed(1)} s)`,
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
