// Recording retention: recordings older than the age limit go, then the oldest until the total
// fits; a running session keeps its recording; a recorded session's end applies the policy; a
// decommissioned device's recordings are deleted with it.
import test from 'ava';
import { connectedDevice, openUser } from '../testing/connect-fixtures.js';
import { acceptedDevice, startTestServer } from '../testing/fixtures.js';
import { SessionRecorder } from './recording.js';
import { DEFAULT_RECORDING_RETENTION, pruneRecordings, retentionPolicy } from './retention.js';
import { PROTO, SHELL } from '../../connect-protocol/protocol.js';

const DAY = 86_400_000;

/** A recording of `bytes` bytes, stored (and ended unless `end` is false) when the promise resolves. */
async function record(store: Parameters<typeof pruneRecordings>[0], sid: string, device: string, bytes: number, end = true): Promise<SessionRecorder> {
  const r = new SessionRecorder(store, sid, device, 'a@example.com');
  r.output(Buffer.alloc(bytes, 0x61));
  if (end) await r.end();
  else await store.recording(sid).then(() => undefined);
  return r;
}

test('the policy validates and defaults', (t) => {
  t.deepEqual(retentionPolicy(), DEFAULT_RECORDING_RETENTION);
  t.deepEqual(retentionPolicy({ maxAgeDays: 7, maxTotalBytes: undefined }), { maxAgeDays: 7, maxTotalBytes: DEFAULT_RECORDING_RETENTION.maxTotalBytes });
  t.throws(() => retentionPolicy({ maxAgeDays: Number.NaN }), { message: /maxAgeDays must be a number of days >= 0, got NaN/ });
  t.throws(() => retentionPolicy({ maxTotalBytes: -1 }), { message: /maxTotalBytes must be a whole number of bytes >= 0, got -1/ });
});

test('age, then total size, oldest first; running sessions stay', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  const store = s.app.flipside.store;
  await record(store, 'old-1', 'dev', 100);
  await record(store, 'old-2', 'dev', 200);
  await record(store, 'mid', 'dev', 300);
  const runningRecorder = await record(store, 'running', 'dev', 400, false);
  await record(store, 'new', 'dev', 500);
  // The running session's writes are queued behind its start: wait until its bytes are stored.
  for (let i = 0; i < 1000 && ((await store.recording('running'))?.bytes ?? 0) < 400; i++) await new Promise((r) => setImmediate(r));
  t.truthy(runningRecorder);
  const left = async () => (await Promise.all(['old-1', 'old-2', 'mid', 'running', 'new'].map(async (sid) => ((await store.recording(sid)) ? sid : null)))).filter((x) => x !== null);
  const running = new Set(['running']);

  t.is(await pruneRecordings(store, { maxAgeDays: 30, maxTotalBytes: 10_000 }, running), 0);
  t.deepEqual(await left(), ['old-1', 'old-2', 'mid', 'running', 'new']);
  // 1200 bytes allowed: new (500) + running (400) + mid (300) fit, the two oldest go with their chunks.
  t.is(await pruneRecordings(store, { maxAgeDays: 30, maxTotalBytes: 1200 }, running), 2);
  t.deepEqual(await left(), ['mid', 'running', 'new']);
  t.deepEqual(await store.recordingChunks('old-1', 0, 10), []);
  t.is((await store.recordingChunks('mid', 0, 10)).length, 1);
  // A month on, every finished recording is past the age limit; the running one stays.
  t.is(await pruneRecordings(store, { maxAgeDays: 30, maxTotalBytes: 10_000 }, running, Date.now() + 31 * DAY), 2);
  t.deepEqual(await left(), ['running']);
  t.is(await pruneRecordings(store, { maxAgeDays: 30, maxTotalBytes: 0 }, new Set()), 1);
  t.deepEqual(await left(), []);
});

test('a decommissioned device takes its recordings with it; a recorder of a deleted recording stops', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  const store = s.app.flipside.store;
  const gone = await acceptedDevice(s, { identity: { mac: '02:00:00:00:00:71' } });
  const kept = await acceptedDevice(s, { identity: { mac: '02:00:00:00:00:72' } });
  await record(store, 'g-1', gone.deviceId!, 10);
  const live = await record(store, 'g-2', gone.deviceId!, 0, false);
  live.output(Buffer.from('before'));
  for (let i = 0; i < 1000 && ((await store.recording('g-2'))?.bytes ?? 0) === 0; i++) await new Promise((r) => setImmediate(r));
  await record(store, 'k-1', kept.deviceId!, 10);
  const r = await s.app.inject({ method: 'DELETE', url: `/api/management/v2/devauth/devices/${gone.deviceId}`, headers: s.auth });
  t.is(r.statusCode, 204);
  t.is(await store.recording('g-1'), undefined);
  t.is(await store.recording('g-2'), undefined);
  t.deepEqual(await store.recordingChunks('g-1', 0, 10), []);
  t.truthy(await store.recording('k-1'));
  // The session outlived its recording for a moment: output is dropped, not an error.
  t.notThrows(() => live.output(Buffer.from('after')));
  await t.notThrowsAsync(() => live.end());
  t.is(await store.recording('g-2'), undefined);
});

test('with a retention policy, a recorded terminal session that ends is pruned at once when over the limit', async (t) => {
  const c = await connectedDevice(t, { shell: { command: '/bin/sh', pty: 'pipe' } }, { recordings: { maxAgeDays: 30, maxTotalBytes: 0 } });
  const u = await openUser(t, c);
  u.send({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { terminal_width: 80, terminal_height: 24 } } });
  const sid = (await u.next())!.hdr.sid!;
  u.send({ hdr: { proto: PROTO.shell, typ: SHELL.data, sid }, body: Buffer.from('echo "kept-while-running"\n') });
  await u.until((m) => m.hdr.typ === SHELL.data && Buffer.from(m.body ?? []).toString().includes('kept-while-running'));
  const store = c.s.app.flipside.store;
  // The user hears the output before the recorder's queued write reaches the store: wait for it.
  // A running session keeps its recording under a 0-byte limit, so this ends.
  while (((await store.recording(sid))?.bytes ?? 0) === 0) await new Promise((r) => setTimeout(r, 5));
  t.like(await store.recording(sid), { device_id: c.deviceId, end_ts: null }, 'the running session is recorded and not ended');
  u.ws.close();
  await u.closed;
  // The server learns of the close after the user does, then ends the recording and prunes: wait
  // for that (a prune that never comes fails by ava's timeout, however slow the machine).
  while (await store.recording(sid)) await new Promise((r) => setTimeout(r, 5));
});
