// Download progress (issue #17): what counting costs the download route. The same artifact over
// loopback, in the same run, through a device's signed link (counted per device and deployment)
// and through a management link (not counted, the baseline); one download at a time and 16 at
// once, alternating rounds. Also the database writes per download: the counts go to SQLite at
// bounded intervals and at each request's end, never per chunk.
// Targets: counted throughput >= 0.9x the baseline; rows written per download <= 2 + its seconds / 2.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { buildServer } from '../server-mock/app.js';
import { generateDeviceKey, SimDevice, injectTransport } from '../server-mock/testing/device-sim.js';
import { createUser } from '../server-mock/management/useradm.js';
import { makeArtifact, multipartBody } from '../server-mock/testing/fixtures.js';

const MiB = 1 << 20;
const SIZE_MIB = Number(process.env.BENCH_DL_MIB ?? 64);
const PARALLEL = 16;
const ROUNDS = Number(process.env.BENCH_DL_ROUNDS ?? 5);

function download(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`status ${res.statusCode}`))));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** MiB/s for `paths` downloaded at once. */
async function measure(port: number, paths: string[], size: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const got = await Promise.all(paths.map((p) => download(port, p)));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (got.some((n) => n !== size)) throw new Error(`short download: ${got.join(', ')} of ${size}`);
  return (got.length * size) / MiB / s;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pathOf = (uri: string) => {
  const u = new URL(uri);
  return u.pathname + u.search;
};

const dataDir = mkdtempSync(join(tmpdir(), 'flipside-dl-bench-'));
const app = await buildServer({ dataDir });
try {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const ctx = app.flipside;
  await createUser(ctx, 'bench@example.com', 'bench-password');
  const login = await app.inject({ method: 'POST', url: '/api/management/v1/useradm/auth/login', headers: { authorization: `Basic ${Buffer.from('bench@example.com:bench-password').toString('base64')}` } });
  const auth = { authorization: `Bearer ${login.body}` };
  const art = await makeArtifact('release-1', ['qemux86-64'], { content: randomBytes(SIZE_MIB * MiB) });
  const { body, contentType } = multipartBody({}, { content: art });
  const up = await app.inject({ method: 'POST', url: '/api/management/v1/deployments/artifacts', headers: { ...auth, 'content-type': contentType }, payload: body });
  if (up.statusCode !== 201) throw new Error(`upload failed ${up.body}`);
  const artifactId = String(up.headers.location).split('/').pop()!;
  const mgmt = await app.inject({ method: 'GET', url: `/api/management/v1/deployments/artifacts/${artifactId}/download`, headers: auth });
  const plainPath = pathOf(mgmt.json<{ uri: string }>().uri);

  const transport = injectTransport(app);
  const devices: SimDevice[] = [];
  for (let i = 0; i < PARALLEL; i++) {
    const d = new SimDevice(transport, { key: generateDeviceKey('ed25519'), identity: { serial: `dl-bench-${i}` } });
    await ctx.store.preauthorize(JSON.stringify({ serial: `dl-bench-${i}` }), d.publicKeyPem);
    if ((await d.authenticate()).status !== 200) throw new Error('device did not authenticate');
    devices.push(d);
  }
  const dep = await app.inject({ method: 'POST', url: '/api/management/v1/deployments/deployments', headers: auth, payload: { name: 'bench', artifact_name: 'release-1', devices: devices.map((d) => d.deviceId) } });
  if (dep.statusCode !== 201) throw new Error(`deployment failed ${dep.body}`);
  const counted: string[] = [];
  for (const d of devices) counted.push(pathOf((await d.checkUpdate()).update!.artifact.source.uri));

  await measure(port, [plainPath, counted[0]!], art.length); // warm up
  const one = { plain: [] as number[], counted: [] as number[] };
  const many = { plain: [] as number[], counted: [] as number[] };
  const writes0 = ctx.downloads.writes;
  let countedDownloads = 0;
  /** Seconds summed over counted downloads (each of the 16 at once lasts the whole round). */
  let downloadSeconds = 0;
  for (let r = 0; r < ROUNDS; r++) {
    one.plain.push(await measure(port, [plainPath], art.length));
    let t0 = Date.now();
    one.counted.push(await measure(port, [counted[r % PARALLEL]!], art.length));
    downloadSeconds += (Date.now() - t0) / 1000;
    many.plain.push(await measure(port, Array(PARALLEL).fill(plainPath), art.length));
    t0 = Date.now();
    many.counted.push(await measure(port, counted, art.length));
    downloadSeconds += (PARALLEL * (Date.now() - t0)) / 1000;
    countedDownloads += 1 + PARALLEL;
  }
  const writes = ctx.downloads.writes - writes0;
  const ratio1 = median(one.counted) / median(one.plain);
  const ratioN = median(many.counted) / median(many.plain);
  const writesPer = writes / countedDownloads;
  // Per download: one row at its end, and one per 2 s flush while it ran (+1: a flush may fall
  // just after it began).
  const writesBound = 2 + downloadSeconds / countedDownloads / 2;
  const f = (n: number) => n.toFixed(0).padStart(6);
  const mark = (ok: boolean) => (ok ? 'MET' : 'NOT MET');
  console.log(`artifact ${(art.length / MiB).toFixed(1)} MiB, ${Math.ceil(art.length / (64 * 1024))} chunks of 64 KiB, ${ROUNDS} rounds (medians)`);
  console.log(`1 download    management link (baseline) ${f(median(one.plain))} MiB/s   device link (counted) ${f(median(one.counted))} MiB/s   ratio ${ratio1.toFixed(2)} (target >= 0.9: ${mark(ratio1 >= 0.9)})`);
  console.log(`${PARALLEL} at once    management link (baseline) ${f(median(many.plain))} MiB/s   device link (counted) ${f(median(many.counted))} MiB/s   ratio ${ratioN.toFixed(2)} (target >= 0.9: ${mark(ratioN >= 0.9)})`);
  console.log(`database rows written: ${writes} for ${countedDownloads} counted downloads, ${writesPer.toFixed(2)} per download (target <= ${writesBound.toFixed(2)}: ${mark(writesPer <= writesBound)})`);
  const sample = await ctx.downloads.ofDevice(String(dep.headers.location).split('/').pop()!, devices[0]!.deviceId!);
  console.log(`device 0: ${JSON.stringify(sample)}`);
  console.log(`download-progress bench: counted/plain ${ratio1.toFixed(2)} (1), ${ratioN.toFixed(2)} (${PARALLEL}); ${writesPer.toFixed(2)} writes per download`);
} finally {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
}
