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

function record(store: Parameters<typeof pruneRecordings>[0], sid: string, device: string, bytes: number, end = true): void {
  const r = new SessionRecorder(store, sid, device, 'a@example.com');
  r.output(Buffer.alloc(bytes, 0x61));
  if (end) r.end();
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
  record(store, 'old-1', 'dev', 100);
  record(store, 'old-2', 'dev', 200);
  record(store, 'mid', 'dev', 300);
  record(store, 'running', 'dev', 400, false);
  record(store, 'new', 'dev', 500);
  const left = () => ['old-1', 'old-2', 'mid', 'running', 'new'].filter((sid) => store.recording(sid));
  const running = new Set(['running']);

  t.is(pruneRecordings(store, { maxAgeDays: 30, maxTotalBytes: 10_000 }, running), 0);
  t.deepEqual(left(), ['old-1', 'old-2', 'mid', 'running', 'new']);
  // 1200 bytes allowed: new (500) + running (400) + mid (300) fit, the two oldest go with their chunks.
  t.is(pruneRecordings(store, { maxAgeDays: 30, maxTotalBytes: 1200 }, running), 2);
  t.deepEqual(left(), ['mid', 'running', 'new']);
  t.deepEqual(store.recordingChunks('old-1', 0, 10), []);
  t.is(store.recordingChunks('mid', 0, 10).length, 1);
  // A month on, every finished recording is past the age limit; the running one stays.
  t.is(pruneRecordings(store, { maxAgeDays: 30, maxTotalBytes: 10_000 }, running, Date.now() + 31 * DAY), 2);
  t.deepEqual(left(), ['running']);
  t.is(pruneRecordings(store, { maxAgeDays: 30, maxTotalBytes: 0 }, new Set()), 1);
  t.deepEqual(left(), []);
});

test('a decommissioned device takes its recordings with it; a recorder of a deleted recording stops', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  const store = s.app.flipside.store;
  const gone = await acceptedDevice(s, { identity: { mac: '02:00:00:00:00:71' } });
  const kept = await acceptedDevice(s, { identity: { mac: '02:00:00:00:00:72' } });
  record(store, 'g-1', gone.deviceId!, 10);
  const live = new SessionRecorder(store, 'g-2', gone.deviceId!, 'a@example.com');
  live.output(Buffer.from('before'));
  record(store, 'k-1', kept.deviceId!, 10);
  const r = await s.app.inject({ method: 'DELETE', url: `/api/management/v2/devauth/devices/${gone.deviceId}`, headers: s.auth });
  t.is(r.statusCode, 204);
  t.is(store.recording('g-1'), undefined);
  t.is(store.recording('g-2'), undefined);
  t.deepEqual(store.recordingChunks('g-1', 0, 10), []);
  t.truthy(store.recording('k-1'));
  // The session outlived its recording for a moment: output is dropped, not an error.
  t.notThrows(() => live.output(Buffer.from('after')));
  t.notThrows(() => live.end());
  t.is(store.recording('g-2'), undefined);
});

test('with a retention policy, a recorded terminal session that ends is pruned at once when over the limit', async (t) => {
  const c = await connectedDevice(t, { shell: { command: '/bin/sh', pty: 'pipe' } }, { recordings: { maxAgeDays: 30, maxTotalBytes: 0 } });
  const u = await openUser(t, c);
  u.send({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { terminal_width: 80, terminal_height: 24 } } });
  const sid = (await u.next())!.hdr.sid!;
  u.send({ hdr: { proto: PROTO.shell, typ: SHELL.data, sid }, body: Buffer.from('echo "kept-while-running"\n') });
  await u.until((m) => m.hdr.typ === SHELL.data && Buffer.from(m.body ?? []).toString().includes('kept-while-running'));
  const store = c.s.app.flipside.store;
  t.true((store.recording(sid)?.bytes ?? 0) > 0, 'a running session keeps its recording under a 0-byte limit');
  u.ws.close();
  await u.closed;
  for (let i = 0; i < 1000 && store.recording(sid); i++) await new Promise((r) => setImmediate(r));
  t.is(store.recording(sid), undefined);
});
