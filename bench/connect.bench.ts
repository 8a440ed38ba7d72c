// deviceconnect file transfer with the real mender-cli 1.9.0 (`mender-cli cp`, both ways) between
// this machine and a Flipside device through flipside-server, on loopback. The server runs in
// this process, the device (client/connect) in a child process (bench/connect-device.ts), and
// mender-cli in its own: the RSS of the server and of the device are sampled every 50 ms during each
// transfer and the peak growth over the RSS just before it is reported.
// Target (issue #21): memory bounded whatever the size: each side grows by less than 64 MiB for a
// BENCH_CONNECT_MIB (default 1024) transfer; the same of 16 MiB, measured in this run, is the
// baseline the big one's growth is compared to.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, ftruncateSync, closeSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ADMIN, startTestServer, acceptedDevice } from '../server-mock/testing/fixtures.js';
import { findPeer, runToolAsync } from '../test-support/peer-tools.js';

const BIG_MIB = Number(process.env.BENCH_CONNECT_MIB ?? 1024);
const SMALL_MIB = 16;
const TARGET_MIB = 64;

const CLI = findPeer('mender-cli');
if (!CLI) {
  console.log('connect bench: skipped (mender-cli is not installed; ci/setup.sh installs it)');
  process.exit(0);
}

const s = await startTestServer();
await s.app.listen({ port: 0, host: '127.0.0.1' });
const url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
const device = await acceptedDevice(s);
const deviceProc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./connect-device.ts', import.meta.url))], {
  env: { ...process.env, FLIPSIDE_BENCH_URL: url, FLIPSIDE_BENCH_TOKEN: device.token ?? '' },
  stdio: ['pipe', 'pipe', 'inherit'],
});
for await (const line of createInterface({ input: deviceProc.stdout! })) if (line === 'connected') break;
const dir = mkdtempSync(join(tmpdir(), 'flipside-connect-bench-'));
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
const cli = async (...args: string[]) => {
  const r = await runToolAsync(CLI, [...args, '--server', url], { env, cwd: dir, timeoutMs: 3_600_000 });
  if (r.code !== 0) throw new Error(`mender-cli ${args.join(' ')}: exit ${r.code}: ${r.out}${r.err}`);
};
await cli('login', '--username', ADMIN.email, '--password', ADMIN.password);

const deviceRss = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${deviceProc.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

interface Run {
  seconds: number;
  bytes: number;
  serverMiB: number;
  deviceMiB: number;
}

/** Runs `work` sampling both sides' RSS; the growth is the peak over the RSS just before. */
async function measure(work: () => Promise<number>): Promise<Run> {
  globalThis.gc?.();
  const base = { server: process.memoryUsage.rss(), device: deviceRss() };
  const peak = { ...base };
  const sample = () => {
    peak.server = Math.max(peak.server, process.memoryUsage.rss());
    peak.device = Math.max(peak.device, deviceRss());
  };
  const timer = setInterval(sample, 50);
  const t0 = performance.now();
  const bytes = await work();
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  sample();
  return { seconds, bytes, serverMiB: (peak.server - base.server) / 2 ** 20, deviceMiB: (peak.device - base.device) / 2 ** 20 };
}

function sparse(name: string, mib: number): string {
  const p = join(dir, name);
  const fd = openSync(p, 'w');
  ftruncateSync(fd, mib * 2 ** 20);
  closeSync(fd);
  return p;
}

const sizeOf = (p: string, mib: number): number => {
  const n = statSync(p).size;
  if (n !== mib * 2 ** 20) throw new Error(`${p}: ${n} bytes, expected ${mib * 2 ** 20}`);
  return n;
};

const download = (mib: number) => async () => {
  const src = sparse(`on-device-${mib}.bin`, mib);
  const dst = join(dir, `downloaded-${mib}.bin`);
  await cli('cp', `${device.deviceId}:${src}`, dst);
  const n = sizeOf(dst, mib);
  rmSync(dst);
  rmSync(src);
  return n;
};
const upload = (mib: number) => async () => {
  const src = sparse(`local-${mib}.bin`, mib);
  const dst = join(dir, `uploaded-${mib}.bin`);
  await cli('cp', src, `${device.deviceId}:${dst}`);
  const n = sizeOf(dst, mib);
  rmSync(dst);
  rmSync(src);
  return n;
};

let met = true;
try {
  await download(1)(); // warm-up: code paths loaded, the first session's allocations made
  const rows: Array<[string, Run]> = [];
  for (const [what, fn] of [['download', download], ['upload', upload]] as const) {
    rows.push([`${what} ${SMALL_MIB} MiB (baseline)`, await measure(fn(SMALL_MIB))]);
    rows.push([`${what} ${BIG_MIB} MiB`, await measure(fn(BIG_MIB))]);
  }
  for (const [name, r] of rows) {
    const ok = r.serverMiB < TARGET_MIB && r.deviceMiB < TARGET_MIB;
    if (!name.includes('baseline')) met &&= ok;
    console.log(
      `mender-cli cp ${name.padEnd(26)} ${(r.bytes / 2 ** 20 / r.seconds).toFixed(1).padStart(6)} MiB/s  peak RSS growth: server +${r.serverMiB.toFixed(1)} MiB, device +${r.deviceMiB.toFixed(1)} MiB` +
        (name.includes('baseline') ? '' : `  (target < ${TARGET_MIB} MiB each: ${ok ? 'MET' : 'NOT MET'})`),
    );
  }
  const big = rows.filter(([n]) => !n.includes('baseline')).map(([, r]) => r);
  const worst = Math.max(...big.flatMap((r) => [r.serverMiB, r.deviceMiB]));
  const slowest = Math.min(...big.map((r) => r.bytes / 2 ** 20 / r.seconds));
  console.log(`connect bench: ${BIG_MIB} MiB mender-cli cp both ways, worst peak RSS growth ${worst.toFixed(1)} MiB (target < ${TARGET_MIB}: ${met ? 'MET' : 'NOT MET'}), slowest ${slowest.toFixed(1)} MiB/s`);
} finally {
  deviceProc.stdin!.end();
  await new Promise((r) => deviceProc.once('exit', r));
  await s.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(met ? 0 : 1);
