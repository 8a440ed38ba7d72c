// deviceconnect file transfer memory and throughput, loopback, server and device side in this one
// process (so the peak RSS covers both ends): a download and an upload of BENCH_CONNECT_MIB
// (default 1024) against the same of 16 MiB as the baseline measured in the same run.
// Target (issue #21): memory bounded whatever the size: peak RSS growth of the big transfer about
// that of the small one (ratio near 1, far below size ratio).
import http from 'node:http';
import { mkdtempSync, rmSync, openSync, ftruncateSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startTestServer, acceptedDevice } from '../server-mock/testing/fixtures.js';
import { DeviceConnect } from '../client/connect/device-connect.js';

const BIG_MIB = Number(process.env.BENCH_CONNECT_MIB ?? 1024);
const SMALL_MIB = 16;

const s = await startTestServer();
await s.app.listen({ port: 0, host: '127.0.0.1' });
const port = (s.app.server.address() as AddressInfo).port;
const url = `http://127.0.0.1:${port}`;
const device = await acceptedDevice(s);
const client = new DeviceConnect({ server: () => url, token: () => device.token ?? null, tokenRefused: () => undefined, log: () => undefined });
client.start();
await client.connected();
const dir = mkdtempSync(join(tmpdir(), 'flipside-connect-bench-'));
const auth = `Bearer ${s.adminToken}`;

/** Runs `work` sampling RSS; returns seconds and the peak RSS growth over the start. */
async function measure(work: () => Promise<number>): Promise<{ seconds: number; peakMiB: number; bytes: number }> {
  globalThis.gc?.();
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  const t0 = performance.now();
  const bytes = await work();
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage.rss());
  return { seconds: (performance.now() - t0) / 1000, peakMiB: (peak - start) / 2 ** 20, bytes };
}

function download(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: `/api/management/v1/deviceconnect/devices/${device.deviceId}/download?path=${encodeURIComponent(path)}`, headers: { authorization: auth } }, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => (n += d.length));
        res.on('end', () => (res.statusCode === 200 && res.complete ? resolve(n) : reject(new Error(`download: ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

function upload(target: string, mib: number): Promise<number> {
  const boundary = 'flipsidebench';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n${target}\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const block = Buffer.alloc(1024 * 1024, 0x5a);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: `/api/management/v1/deviceconnect/devices/${device.deviceId}/upload`, headers: { authorization: auth, 'content-type': `multipart/form-data; boundary=${boundary}` } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 201 ? resolve(statSync(target).size) : reject(new Error(`upload: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.write(head);
    let sent = 0;
    const more = (): void => {
      while (sent < mib) {
        sent++;
        if (!req.write(block)) return void req.once('drain', more);
      }
      req.end(tail);
    };
    more();
  });
}

function sparse(name: string, mib: number): string {
  const p = join(dir, name);
  const fd = openSync(p, 'w');
  ftruncateSync(fd, mib * 2 ** 20);
  closeSync(fd);
  return p;
}

try {
  const small = sparse('small.bin', SMALL_MIB);
  const big = sparse('big.bin', BIG_MIB);
  await download(small); // warm-up
  const rows: Array<[string, Awaited<ReturnType<typeof measure>>]> = [];
  rows.push([`download ${SMALL_MIB} MiB (baseline)`, await measure(() => download(small))]);
  rows.push([`download ${BIG_MIB} MiB`, await measure(() => download(big))]);
  rows.push([`upload ${SMALL_MIB} MiB (baseline)`, await measure(() => upload(join(dir, 'up-small.bin'), SMALL_MIB))]);
  rmSync(join(dir, 'up-small.bin'));
  rows.push([`upload ${BIG_MIB} MiB`, await measure(() => upload(join(dir, 'up-big.bin'), BIG_MIB))]);
  for (const [name, r] of rows) console.log(`${name.padEnd(28)} ${(r.bytes / 2 ** 20 / r.seconds).toFixed(1).padStart(7)} MiB/s  peak RSS +${r.peakMiB.toFixed(1)} MiB`);
  // Growth under 8 MiB is noise (the GC's own timing): the ratio is taken from 8 MiB up.
  const ratio = (a: number, b: number) => (Math.max(a, 8) / Math.max(b, 8)).toFixed(2);
  console.log(`peak RSS growth ratio, ${BIG_MIB} MiB vs ${SMALL_MIB} MiB (size ratio ${BIG_MIB / SMALL_MIB}; floor 8 MiB): download ${ratio(rows[1]![1].peakMiB, rows[0]![1].peakMiB)}, upload ${ratio(rows[3]![1].peakMiB, rows[2]![1].peakMiB)}`);
} finally {
  client.stop();
  await s.close();
  rmSync(dir, { recursive: true, force: true });
}
