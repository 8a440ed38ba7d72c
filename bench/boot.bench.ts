// Boot time of the default QEMU board: seconds from QEMU start to U-Boot, to the kernel, to the
// shell prompt and to "client ready" (the client's first FLIPSIDE-STATE line), against the floor
// of the same image with the client disabled — measured in the same run, alternating, so machine
// load affects both alike. Skips (exit 0) when the image cannot be built here.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type BuiltImage } from '../qemu/image/build.js';
import { REPO_ROOT } from '../paths.js';
import { partition } from '../qemu/image/layout.js';
import { run } from '../qemu/image/exec.js';
import { QemuVm } from '../harness/drivers/qemu/vm.js';

const ROUNDS = Number(process.env.FLIPSIDE_BENCH_ROUNDS ?? 3);
const runRoot = join(REPO_ROOT, '.cache', 'qemu', 'bench-boot');

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Sample {
  uboot: number;
  kernel: number;
  init: number;
  shell: number;
  client?: number;
}

/** A copy of the image whose data partition says "client disabled" (same rootfs, same kernel). */
async function withClientDisabled(img: BuiltImage, dir: string): Promise<string> {
  const disk = join(dir, 'floor.img');
  await run('cp', ['--sparse=always', '--reflink=auto', img.disk, disk]);
  const empty = join(dir, 'empty');
  writeFileSync(empty, '');
  const offset = partition(img.layout, 'data').offset;
  await run('debugfs', ['-w', '-R', `write ${empty} flipside/client.disabled`, `${disk}?offset=${offset}`]);
  return disk;
}

async function bootOnce(img: BuiltImage, disk: string, dir: string, withClient: boolean): Promise<Sample> {
  const b = img.board;
  const t0 = Date.now();
  const vm = await QemuVm.start({ board: b, disk, runDir: dir, snapshot: true });
  const at = async (re: RegExp, timeoutMs: number) => {
    await vm.console.expect(re, timeoutMs);
    return (Date.now() - t0) / 1000;
  };
  try {
    const uboot = await at(new RegExp(escape(b.console.bootloaderPrompt)), b.timeouts.bootloaderMs);
    const kernel = await at(/Starting kernel/, b.timeouts.shellMs);
    const init = await at(/flipside: init root=/, b.timeouts.shellMs);
    const shell = await at(new RegExp(escape(b.console.shellPrompt)), b.timeouts.shellMs);
    let client: number | undefined;
    if (withClient) {
      const ready = new RegExp(`${escape(b.console.clientReadyPrompt)}|flipside: client exited with status \\d+`);
      // Judged by what matched: the transcript holds complete lines only, and the ready line may still be arriving.
      const m = await vm.console.expect(ready, b.timeouts.clientReadyMs);
      client = (Date.now() - t0) / 1000;
      if (!m[0].includes(b.console.clientReadyPrompt)) {
        const why = vm.console.transcript().slice(-3).map((l) => l.text).join(' | ');
        throw new Error(`the client exited before it was ready: ${why}`);
      }
    }
    return { uboot, kernel, init, shell, client };
  } finally {
    await vm.quit();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

async function main(): Promise<void> {
  const bundle = join(REPO_ROOT, 'dist', 'device', 'flipside.cjs');
  let img: BuiltImage;
  const t0 = Date.now();
  try {
    img = await buildImage({
      board: 'qemu-aarch64',
      version: 'bench-1',
      artifact: false,
      ...(existsSync(bundle) ? { clientBundle: bundle } : {}),
    });
  } catch (e) {
    console.log(`boot bench skipped: cannot build the image here (${(e as Error).message.split('\n')[0]})`);
    return;
  }
  console.log(`image ${img.cached ? 'cached' : 'built'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const hasClient = existsSync(bundle);
  if (!hasClient) console.log(`no client bundle at ${bundle} (npm run build:device): measuring the floor only`);
  rmSync(runRoot, { recursive: true, force: true });
  mkdirSync(runRoot, { recursive: true });
  const floorDisk = await withClientDisabled(img, runRoot);
  const withClient: Sample[] = [];
  let clientWorks = true;
  const floor: Sample[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    floor.push(await bootOnce(img, floorDisk, join(runRoot, `floor-${i}`), false));
    if (hasClient && clientWorks) {
      try {
        withClient.push(await bootOnce(img, img.disk, join(runRoot, `client-${i}`), true));
      } catch (e) {
        clientWorks = false;
        console.log(`client-ready not measured: ${(e as Error).message}`);
      }
    }
  }
  const row = (name: string, xs: Sample[]) => {
    const m = (k: keyof Sample) => {
      const v = median(xs.map((x) => x[k]).filter((x): x is number => x !== undefined));
      return Number.isNaN(v) ? '     -' : v.toFixed(1).padStart(6);
    };
    return `${name.padEnd(22)} ${m('uboot')} ${m('kernel')} ${m('init')} ${m('shell')} ${m('client')}`;
  };
  console.log(`\nqemu-aarch64, median of ${ROUNDS}, seconds from QEMU start`);
  console.log(`${''.padEnd(22)}  U-Boot kernel   init  shell client`);
  console.log(row('floor (client off)', floor));
  if (withClient.length) {
    console.log(row('with client', withClient));
    const cost = median(withClient.map((s) => s.client! - s.shell));
    console.log(`client ready ${cost.toFixed(1)} s after the shell prompt; shell delay from the client ${(median(withClient.map((s) => s.shell)) - median(floor.map((s) => s.shell))).toFixed(1)} s`);
  }
}

await main();
