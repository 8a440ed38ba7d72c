// Download progress per device and deployment, counted by the download route: full downloads,
// Range resumes, restarts from byte 0, a device cut off mid-way over a real socket, the numbers
// kept across a server restart, and writes bounded (not one per chunk).
import test from 'ava';
import { once } from 'node:events';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestServer, acceptedDevice, uploadArtifact, createDeployment, type TestServer } from '../testing/fixtures.js';
import { writeArtifactToBuffer } from '../../artifact/to-buffer.js';
import type { DownloadView } from './download-progress.js';

const LIST = '/api/management/v1/deployments/deployments';

async function serverWithArtifact(payloadBytes: number, opts: Parameters<typeof startTestServer>[0] = {}): Promise<{ s: TestServer; size: number }> {
  const s = await startTestServer(opts);
  // Uncompressed: the artifact is a little over payloadBytes, and quick to make.
  const artifact = await writeArtifactToBuffer({
    type: 'single-file',
    kind: 'module-image',
    name: 'release-1',
    deviceTypes: ['qemux86-64'],
    compression: 'none',
    files: [{ name: 'payload.bin', content: Buffer.alloc(payloadBytes, 'flipside download progress ') }],
  });
  const up = await uploadArtifact(s, artifact);
  if (up.statusCode !== 201) throw new Error(`upload failed ${up.statusCode} ${up.body}`);
  return { s, size: artifact.length };
}

/** A device with a deployment for it and its signed link (path and query). */
async function deviceWithLink(s: TestServer): Promise<{ deviceId: string; depId: string; link: string; download: (range?: string) => Promise<{ status: number; length: number }> }> {
  const d = await acceptedDevice(s);
  const depId = await createDeployment(s, { artifact_name: 'release-1', devices: [d.deviceId] });
  const { update } = await d.checkUpdate();
  const u = new URL(update!.artifact.source.uri);
  const link = u.pathname + u.search;
  return {
    deviceId: d.deviceId!,
    depId,
    link,
    download: async (range) => {
      const r = await d.download(update!.artifact.source.uri, range);
      return { status: r.status, length: r.body.length };
    },
  };
}

async function downloadOf(s: TestServer, depId: string, deviceId: string, url = `${LIST}/${depId}/devices`): Promise<DownloadView | undefined> {
  const r = await s.app.inject({ method: 'GET', url, headers: s.auth });
  if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode} ${r.body}`);
  return r.json<Array<{ id: string; download?: DownloadView }>>().find((x) => x.id === deviceId)?.download;
}

test('full download, Range resumes and a restart from byte 0 are counted per device', async (t) => {
  const { s, size } = await serverWithArtifact(300_000);
  try {
    const a = await deviceWithLink(s);
    const b = await deviceWithLink(s);
    t.is(await downloadOf(s, a.depId, a.deviceId), undefined, 'no field before the first request');
    // HEAD sends no bytes and is no download.
    t.is((await s.app.inject({ method: 'HEAD', url: a.link })).statusCode, 200);
    t.is(await downloadOf(s, a.depId, a.deviceId), undefined);

    t.deepEqual(await a.download('bytes=0-99999'), { status: 206, length: 100_000 }, 'counting loses no byte');
    let v = (await downloadOf(s, a.depId, a.deviceId))!;
    t.like(v, { bytes: 100_000, total: size, served: 100_000, requests: 1, resumes: 0, restarts: 0, active: false });
    t.false(Number.isNaN(Date.parse(v.last_at)));

    t.deepEqual(await a.download('bytes=100000-'), { status: 206, length: size - 100_000 });
    v = (await downloadOf(s, a.depId, a.deviceId))!;
    t.like(v, { bytes: size, served: size, requests: 2, resumes: 1, restarts: 0 });

    // Mender's way after a power cut: the whole artifact again.
    t.deepEqual(await a.download(), { status: 200, length: size });
    v = (await downloadOf(s, a.depId, a.deviceId))!;
    t.like(v, { bytes: size, served: 2 * size, requests: 3, resumes: 1, restarts: 1 });

    // The other device's numbers are its own; the paged list and the device's history carry them too.
    t.is(await downloadOf(s, b.depId, b.deviceId), undefined);
    t.is((await b.download()).status, 200);
    t.like(await downloadOf(s, b.depId, b.deviceId, `${LIST}/${b.depId}/devices/list?page=1&per_page=10`), { bytes: size, served: size, resumes: 0 });
    const hist = await s.app.inject({ method: 'GET', url: `${LIST}/devices/${b.deviceId}`, headers: s.auth });
    t.like(hist.json<Array<{ device: { download: DownloadView } }>>()[0]!.device.download, { bytes: size, requests: 1 });
    t.like(await downloadOf(s, a.depId, a.deviceId), { requests: 3 }, 'b downloading left a alone');

    // An unsatisfiable range serves nothing and counts nothing.
    t.is((await a.download(`bytes=${size}-`)).status, 416);
    t.like(await downloadOf(s, a.depId, a.deviceId), { requests: 3, served: 2 * size });
  } finally {
    await s.close();
  }
});

test('the link is signed for its device and deployment: changed or dropped ids are refused', async (t) => {
  const { s } = await serverWithArtifact(1000);
  try {
    const a = await deviceWithLink(s);
    const b = await deviceWithLink(s);
    const get = (mutate: (q: URLSearchParams) => void) => {
      const u = new URL(a.link, 'http://x');
      mutate(u.searchParams);
      return s.app.inject({ method: 'GET', url: u.pathname + u.search });
    };
    t.is((await get(() => {})).statusCode, 200);
    t.is((await get((q) => q.set('device_id', b.deviceId))).statusCode, 403, 'another device');
    t.is((await get((q) => q.set('deployment_id', b.depId))).statusCode, 403, 'another deployment');
    t.is((await get((q) => q.delete('device_id'))).statusCode, 403, 'one id dropped');
    t.is((await get((q) => { q.delete('device_id'); q.delete('deployment_id'); })).statusCode, 403, 'both dropped: no longer the signed text');
    t.is((await get((q) => q.set('device_id', 'a\nb'))).statusCode, 403);
    t.like(await downloadOf(s, a.depId, a.deviceId), { requests: 1 }, 'refused requests count nothing');
    t.is(await downloadOf(s, b.depId, b.deviceId), undefined);
    // A management download link has no holder: served, not counted for anyone.
    const artifacts = await s.app.inject({ method: 'GET', url: '/api/management/v1/deployments/artifacts', headers: s.auth });
    const id = artifacts.json<Array<{ id: string }>>()[0]!.id;
    const mgmt = await s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/artifacts/${id}/download`, headers: s.auth });
    const mu = new URL(mgmt.json<{ uri: string }>().uri);
    t.is((await s.app.inject({ method: 'GET', url: mu.pathname + mu.search })).statusCode, 200);
    t.like(await downloadOf(s, a.depId, a.deviceId), { requests: 1 });
  } finally {
    await s.close();
  }
});

/** GETs `path` over a real socket and cuts the connection once `cutAt` bytes arrived; the bytes received. */
async function cutDownload(port: number, path: string, cutAt: number): Promise<number> {
  const req = request({ host: '127.0.0.1', port, path });
  req.end();
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  let got = 0;
  for await (const chunk of res) {
    got += (chunk as Buffer).length;
    if (got >= cutAt) break; // leaving the loop destroys the response: the device loses power
  }
  req.destroy();
  return got;
}

async function rangeDownload(port: number, path: string, from: number): Promise<{ status: number; length: number }> {
  const req = request({ host: '127.0.0.1', port, path, headers: { range: `bytes=${from}-` } });
  req.end();
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  let length = 0;
  for await (const chunk of res) length += (chunk as Buffer).length;
  return { status: res.statusCode!, length };
}

test('a device cut off mid-way over a socket resumes; the numbers survive a server restart', async (t) => {
  // Far more than loopback's socket buffers hold (4 MiB to send, what the reader drained to
  // receive): the server cannot have handed it all over when the device goes away.
  const { s, size } = await serverWithArtifact(32 * 1024 * 1024);
  const dataDir = s.dataDir;
  let s2: TestServer | undefined;
  try {
    const a = await deviceWithLink(s);
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (s.app.server.address() as AddressInfo).port;

    const ended = once(s.app.flipside.downloads, 'ended');
    const got = await cutDownload(port, a.link, 256 * 1024);
    const [cut] = (await ended) as [DownloadView];
    // The server counts what it handed to the socket: at least what arrived, less than the whole.
    t.true(cut.bytes >= got && cut.bytes < size, `bytes ${cut.bytes}, received ${got}, size ${size}`);
    t.like(cut, { served: cut.bytes, requests: 1, resumes: 0, active: false });
    t.like(await downloadOf(s, a.depId, a.deviceId), { bytes: cut.bytes, served: cut.bytes });

    // Restart on the same data: what was counted is still there.
    await s.app.close();
    s2 = await startTestServer({ dataDir });
    t.like(await downloadOf(s2, a.depId, a.deviceId), { bytes: cut.bytes, total: size, served: cut.bytes, requests: 1, resumes: 0 });

    // The device resumes from what it had, on the new server, with the link it kept.
    await s2.app.listen({ host: '127.0.0.1', port: 0 });
    const port2 = (s2.app.server.address() as AddressInfo).port;
    const rest = await rangeDownload(port2, a.link, got);
    t.deepEqual(rest, { status: 206, length: size - got });
    t.like(await downloadOf(s2, a.depId, a.deviceId), { bytes: size, served: cut.bytes + size - got, requests: 2, resumes: 1, restarts: 0 });
    await s2.app.close();
    const s3 = await startTestServer({ dataDir });
    try {
      t.like(await downloadOf(s3, a.depId, a.deviceId), { bytes: size, resumes: 1, requests: 2 });
    } finally {
      await s3.close();
    }
  } finally {
    await s2?.app.close().catch(() => {});
    await s.close().catch(() => {});
  }
});

test('writes are bounded: a download of many chunks is one write at its end; live numbers show before', async (t) => {
  // A flush interval longer than the test: only the end of a transfer writes.
  const { s, size } = await serverWithArtifact(4 * 1024 * 1024, { downloadProgressFlushMs: 3600_000 });
  try {
    const a = await deviceWithLink(s);
    const downloads = s.app.flipside.downloads;
    t.is((await a.download()).status, 200);
    t.true(size / (64 * 1024) > 60, 'many chunks');
    t.is(downloads.writes, 1, 'one row written for the whole download');
    t.like(await s.app.flipside.store.downloadProgress(a.depId, a.deviceId), { position: size, served: size, requests: 1 });

    // Mid-transfer (driven directly, the route's calls in order): the API shows the live numbers
    // before anything is written; flush() writes them; the end writes once more.
    const transfer = await downloads.begin({ deploymentId: a.depId, deviceId: a.deviceId }, { id: (await s.app.flipside.store.downloadProgress(a.depId, a.deviceId))!.artifact_id, size }, 1000);
    for (let i = 0; i < 10; i++) transfer.sent(100);
    t.like(await downloadOf(s, a.depId, a.deviceId), { bytes: 2000, served: size + 1000, requests: 2, resumes: 1, active: true });
    t.is(downloads.writes, 1);
    t.like(await s.app.flipside.store.downloadProgress(a.depId, a.deviceId), { position: size, requests: 1 }, 'not written yet');
    await downloads.flush();
    t.is(downloads.writes, 2);
    t.like(await s.app.flipside.store.downloadProgress(a.depId, a.deviceId), { position: 2000, requests: 2, resumes: 1 });
    transfer.sent(500);
    await transfer.end();
    await transfer.end();
    t.is(downloads.writes, 3);
    t.like(await downloadOf(s, a.depId, a.deviceId), { bytes: 2500, served: size + 1500, active: false });
  } finally {
    await s.close();
  }
});
