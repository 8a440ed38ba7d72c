// deviceconnect end to end on loopback: the server with the real device side (client/connect)
// connected, a user's WebSocket speaking the msgpack protocol, file transfer over HTTP, and the
// refusals (unaccepted device, user without the role, malformed frames).
import test from 'ava';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { encode } from '@msgpack/msgpack';
import WebSocket from 'ws';
import { connectedDevice, openUser, UserSocket } from '../testing/connect-fixtures.js';
import { acceptedDevice, multipartBody, startTestServer } from '../testing/fixtures.js';
import { createUser, issueUserToken } from '../management/useradm.js';
import { SessionRecorder } from './recording.js';
import { CONTROL, FORWARD, PROTO, SHELL, decodeBody, encodeBody, errorText } from '../../connect-protocol/protocol.js';

const text = (ms: Array<{ body?: Uint8Array }>) => Buffer.concat(ms.map((m) => Buffer.from(m.body ?? []))).toString('utf8');

test('a user runs a command in a remote terminal; the session is audited and listed', async (t) => {
  const c = await connectedDevice(t, { shell: { command: '/bin/sh', pty: 'pipe' } });
  const state = await c.s.app.inject({ method: 'GET', url: `/api/management/v1/deviceconnect/devices/${c.deviceId}`, headers: c.s.auth });
  t.is(state.json<{ status: string }>().status, 'connected');
  const u = await openUser(t, c);
  u.send({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { terminal_width: 80, terminal_height: 24 } } });
  const started = await u.next();
  t.is(started?.hdr.typ, SHELL.new);
  t.is(started?.hdr.props?.status, 1);
  t.truthy(started?.hdr.sid);
  const sessions = (await c.s.app.inject({ method: 'GET', url: '/api/management/v1/deviceconnect/sessions', headers: c.s.auth })).json<Array<{ id: string; kind: string }>>();
  t.deepEqual(sessions.map((x) => [x.id, x.kind]), [[started!.hdr.sid, 'connect']]);
  u.send({ hdr: { proto: PROTO.shell, typ: SHELL.data, sid: started!.hdr.sid }, body: Buffer.from('echo "answer-$((6*7))"\nexit\n') });
  const out = await u.until((m) => m.hdr.typ === SHELL.stop);
  t.regex(text(out.filter((m) => m.hdr.typ === SHELL.data)), /answer-42/);
  t.is(out.at(-1)?.hdr.typ, SHELL.stop, 'the shell ending stops the session');
  u.ws.close();
  await u.closed;
  // The server writes the stop record when it sees the close; wait for it by the session list emptying.
  while (c.s.app.flipside.connect.sessions().length > 0) await new Promise((r) => setTimeout(r, 5));
  const actions = (await c.s.app.flipside.store.auditLog({ limit: 10, offset: 0, objectType: 'device' })).map((e) => e.action);
  t.true(actions.includes('deviceconnect.session_start'));
  t.true(actions.includes('deviceconnect.session_stop'));
});

test('a device that is not accepted cannot connect, nor can anyone reach it', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `ws://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
  const d = await acceptedDevice(s);
  const token = d.token!;
  // Rejecting the device revokes its token: the same token no longer opens a connection.
  const dev = (await s.app.flipside.store.device(d.deviceId!))!;
  const set = (await s.app.flipside.store.authSets(dev.id))[0]!;
  t.is((await s.app.inject({ method: 'PUT', url: `/api/management/v2/devauth/devices/${dev.id}/auth/${set.id}/status`, headers: s.auth, payload: { status: 'rejected' } })).statusCode, 204);
  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`${url}/api/devices/v1/deviceconnect/connect`, { headers: { Authorization: `Bearer ${token}` } });
    ws.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
    ws.once('open', () => reject(new Error('a rejected device connected')));
  });
  t.is(status, 401);
  const user = await UserSocket.open(url.replace(/^ws/, 'http'), dev.id, s.adminToken);
  t.false(user instanceof UserSocket);
  t.is((user as { status: number }).status, 409);
  t.regex((user as { body: string }).body, /rejected, not accepted/);
});

test('a user whose role lacks ConnectToDevices gets nothing; RBAC_ROLE_REMOTE_TERMINAL gets a session', async (t) => {
  const c = await connectedDevice(t);
  const ctx = c.s.app.flipside;
  const observer = issueUserToken(ctx, await createUser(ctx, 'observer@example.com', 'observer-password', ['RBAC_ROLE_OBSERVER']));
  const refused = await UserSocket.open(c.url, c.deviceId, observer);
  t.false(refused instanceof UserSocket);
  t.is((refused as { status: number }).status, 403);
  t.regex((refused as { body: string }).body, /needs ConnectToDevices/);
  const down = await c.s.app.inject({ method: 'GET', url: `/api/management/v1/deviceconnect/devices/${c.deviceId}/download?path=/etc/hostname`, headers: { authorization: `Bearer ${observer}` } });
  t.is(down.statusCode, 403);
  t.is((await UserSocket.open(c.url, c.deviceId, 'not-a-token') as { status: number }).status, 401);
  const terminal = issueUserToken(ctx, await createUser(ctx, 'support@example.com', 'support-password', ['RBAC_ROLE_REMOTE_TERMINAL']));
  const u = await openUser(t, c, terminal);
  u.send({ hdr: { proto: PROTO.control, typ: CONTROL.open }, body: encodeBody({ versions: [1] }) });
  const accept = await u.next();
  t.is(accept?.hdr.typ, CONTROL.accept);
  t.deepEqual(decodeBody(accept!).protocols, [PROTO.shell, PROTO.fileTransfer, PROTO.portForward]);
});

test('malformed frames: the user and the device are told why and disconnected', async (t) => {
  const c = await connectedDevice(t);
  const u = await openUser(t, c);
  u.ws.send(Buffer.from('this is not msgpack'));
  const err = await u.next();
  t.is(err?.hdr.proto, PROTO.control);
  t.is(err?.hdr.typ, CONTROL.error);
  t.regex(errorText(err!), /malformed message: frame is not msgpack/);
  const closed = await u.closed;
  t.is(closed.code, 1007);
  const u2 = await openUser(t, c);
  u2.ws.send(encode({ hdr: { proto: 77, typ: 'x' } }));
  t.regex(errorText((await u2.next())!), /unknown protocol 77/);
  t.is((await u2.closed).code, 1007);
  // A device sending garbage is disconnected too (and comes back by itself).
  const raw = new WebSocket(`${c.url.replace(/^http/, 'ws')}/api/devices/v1/deviceconnect/connect`, { headers: { Authorization: `Bearer ${c.device.token}` } });
  await new Promise((r) => raw.once('open', r));
  raw.send(encode({ hdr: 'nope' }));
  const code = await new Promise<number>((r) => raw.once('close', (cd) => r(cd)));
  t.is(code, 1007);
});

async function upload(url: string, token: string, deviceId: string, path: string, content: Buffer): Promise<{ status: number; body: string }> {
  const { body, contentType } = multipartBody({ path }, { field: 'file', name: 'f', content });
  const r = await fetch(`${url}/api/management/v1/deviceconnect/devices/${deviceId}/upload`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
  return { status: r.status, body: await r.text() };
}

test('file transfer: upload and download a 3 MiB file through the device, chunked; a missing file is 404', async (t) => {
  const c = await connectedDevice(t);
  const dir = mkdtempSync(join(tmpdir(), 'flipside-ft-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const content = randomBytes(3 * 1024 * 1024 + 17);
  const target = join(dir, 'up.bin');
  const up = await upload(c.url, c.s.adminToken, c.deviceId, target, content);
  t.is(up.status, 201, up.body);
  t.true(readFileSync(target).equals(content));
  const r = await fetch(`${c.url}/api/management/v1/deviceconnect/devices/${c.deviceId}/download?path=${encodeURIComponent(target)}`, { headers: c.s.auth });
  t.is(r.status, 200);
  t.is(r.headers.get('x-men-file-size'), String(content.length));
  t.is(r.headers.get('x-men-file-mode'), '644');
  t.true(Buffer.from(await r.arrayBuffer()).equals(content));
  const missing = await fetch(`${c.url}/api/management/v1/deviceconnect/devices/${c.deviceId}/download?path=${encodeURIComponent(join(dir, 'nope'))}`, { headers: c.s.auth });
  t.is(missing.status, 404);
  t.regex(await missing.text(), /ENOENT/);
  const notDir = await upload(c.url, c.s.adminToken, c.deviceId, join(dir, 'no-such-dir', 'f'), Buffer.from('x'));
  t.is(notDir.status, 404);
  const relative = await upload(c.url, c.s.adminToken, c.deviceId, 'relative/path', Buffer.from('x'));
  t.is(relative.status, 400);
  t.regex(relative.body, /not an absolute path/);
  const actions = (await c.s.app.flipside.store.auditLog({ limit: 10, offset: 0, objectType: 'device' })).map((e) => e.action);
  t.true(actions.includes('deviceconnect.upload') && actions.includes('deviceconnect.download'));
});

/**
 * Starts uploading `target` (the multipart head and 1 MiB of file, never the rest) and calls
 * `onWriting` with the request once the device is writing its temporary file; resolves with the
 * response's status, or 0 when the request was cut.
 */
function partialUpload(c: Awaited<ReturnType<typeof connectedDevice>>, dir: string, target: string, onWriting: (req: ReturnType<typeof request>) => void): Promise<number> {
  const { body, contentType } = multipartBody({ path: target }, { field: 'file', name: 'f', content: Buffer.alloc(0) });
  const fileStart = body.indexOf('\r\n\r\n', body.indexOf('name="file"')) + 4;
  const port = new URL(c.url).port;
  return new Promise<number>((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'PUT', path: `/api/management/v1/deviceconnect/devices/${c.deviceId}/upload`, headers: { authorization: `Bearer ${c.s.adminToken}`, 'content-type': contentType } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.write(body.subarray(0, fileStart));
    req.write(randomBytes(1024 * 1024), () => {
      const seen = () => readdirSync(dir).some((f) => f.includes('.flipside-'));
      const wait = () => (seen() ? onWriting(req) : setTimeout(wait, 5));
      wait();
    });
  });
}

test('file transfer: the device dropping mid-upload leaves neither the file nor a temporary one', async (t) => {
  const c = await connectedDevice(t);
  const dir = mkdtempSync(join(tmpdir(), 'flipside-ft-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const target = join(dir, 'partial.bin');
  writeFileSync(target, 'the old content\n');
  // Once the device has received some of it, its connection drops.
  const status = await partialUpload(c, dir, target, () => c.client.stop());
  t.is(status, 409);
  t.is(readFileSync(target, 'utf8'), 'the old content\n');
  // The device removes its temporary file when its sessions end, and logs it.
  while (!c.log.some((l) => l.includes('not changed (transfer ended'))) await new Promise((r) => setTimeout(r, 5));
  t.deepEqual(readdirSync(dir), ['partial.bin']);
  t.false(existsSync(join(dir, 'partial.bin.tmp')));
});

test('file transfer: the user dropping mid-upload leaves the old file and no temporary one on the device', async (t) => {
  const c = await connectedDevice(t);
  const dir = mkdtempSync(join(tmpdir(), 'flipside-ft-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const target = join(dir, 'kept.bin');
  writeFileSync(target, 'the old content\n');
  // Once the device is writing its temporary file, the user's connection drops.
  t.is(await partialUpload(c, dir, target, (req) => req.destroy()), 0);
  while (!c.log.some((l) => l.includes('not changed (transfer ended'))) await new Promise((r) => setTimeout(r, 5));
  t.is(readFileSync(target, 'utf8'), 'the old content\n');
  t.deepEqual(readdirSync(dir), ['kept.bin']);
  while (c.s.app.flipside.connect.sessions().length > 0) await new Promise((r) => setTimeout(r, 5));
  t.deepEqual(c.s.app.flipside.connect.sessions(), [], 'the session is gone');
});

test('file transfer: the device dropping mid-download cuts the response short of its Content-Length', async (t) => {
  const c = await connectedDevice(t);
  const dir = mkdtempSync(join(tmpdir(), 'flipside-ft-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const source = join(dir, 'big.bin');
  writeFileSync(source, randomBytes(8 * 1024 * 1024));
  const port = new URL(c.url).port;
  const r = await new Promise<{ length: number; received: number; complete: boolean }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/api/management/v1/deviceconnect/devices/${c.deviceId}/download?path=${encodeURIComponent(source)}`, headers: { authorization: `Bearer ${c.s.adminToken}` } }, (res) => {
      let received = 0;
      res.on('data', (d: Buffer) => {
        if (received === 0) c.client.stop();
        received += d.length;
      });
      res.on('close', () => resolve({ length: Number(res.headers['content-length']), received, complete: res.complete }));
    });
    req.on('error', reject);
    req.end();
  });
  t.is(r.length, 8 * 1024 * 1024);
  t.false(r.complete, 'the response is not complete');
  t.true(r.received < r.length, `received ${r.received} of ${r.length}`);
  t.deepEqual(c.s.app.flipside.connect.sessions(), [], 'the session is gone');
});

test('port forward: a TCP connection through the device reaches a local echo server', async (t) => {
  const c = await connectedDevice(t);
  const echo = createServer((sock) => sock.pipe(sock));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  t.teardown(() => echo.close());
  const u = await openUser(t, c);
  u.send({ hdr: { proto: PROTO.control, typ: CONTROL.open }, body: encodeBody({ versions: [1] }) });
  const sid = (await u.next())!.hdr.sid!;
  const props = { connection_id: 'c1' };
  u.send({ hdr: { proto: PROTO.portForward, typ: FORWARD.new, sid, props }, body: encodeBody({ remote_host: '127.0.0.1', remote_port: (echo.address() as AddressInfo).port, protocol: 'tcp' }) });
  t.is((await u.next())?.hdr.typ, FORWARD.new);
  u.send({ hdr: { proto: PROTO.portForward, typ: FORWARD.data, sid, props }, body: Buffer.from('ping through the device') });
  const got = await u.until((m) => m.hdr.typ === FORWARD.data);
  t.true(got.some((m) => m.hdr.typ === FORWARD.ack));
  t.is(Buffer.from(got.at(-1)!.body!).toString(), 'ping through the device');
  u.send({ hdr: { proto: PROTO.portForward, typ: FORWARD.ack, sid, props } });
  u.send({ hdr: { proto: PROTO.portForward, typ: FORWARD.new, sid, props: { connection_id: 'c2' } }, body: encodeBody({ remote_port: 70000 }) });
  const bad = await u.until((m) => m.hdr.typ === FORWARD.error);
  t.regex(errorText(bad.at(-1)!), /not a TCP port/);
});

test('check-update and send-inventory reach the device\'s update client; a device not connected is 409', async (t) => {
  const asked: string[] = [];
  let heard: (() => void) | null = null;
  const ask = (what: string) => {
    asked.push(what);
    heard?.();
  };
  const c = await connectedDevice(t, { menderClient: { checkUpdate: () => ask('check-update'), sendInventory: () => ask('send-inventory') } });
  const post = (id: string, what: string, token = c.s.adminToken) =>
    c.s.app.inject({ method: 'POST', url: `/api/management/v1/deviceconnect/devices/${id}/${what}`, headers: { authorization: `Bearer ${token}` } });
  for (const what of ['check-update', 'send-inventory']) {
    const arrived = new Promise<void>((r) => (heard = r));
    const r = await post(c.deviceId, what);
    t.is(r.statusCode, 202, r.body);
    t.is(r.body, '');
    await arrived;
  }
  t.deepEqual(asked, ['check-update', 'send-inventory']);
  t.true(c.log.some((l) => l.includes('asked for an update check now')));
  const actions = (await c.s.app.flipside.store.auditLog({ limit: 10, offset: 0, objectType: 'device' })).map((e) => e.action);
  t.true(actions.includes('deviceconnect.check_update') && actions.includes('deviceconnect.send_inventory'));
  const ctx = c.s.app.flipside;
  const observer = issueUserToken(ctx, await createUser(ctx, 'watcher@example.com', 'watcher-password', ['RBAC_ROLE_OBSERVER']));
  t.is((await post(c.deviceId, 'check-update', observer)).statusCode, 403);
  t.is((await post('00000000-0000-4000-8000-000000000000', 'check-update')).statusCode, 404);
  const idle = await acceptedDevice(c.s);
  const r = await post(idle.deviceId!, 'send-inventory');
  t.is(r.statusCode, 409);
  t.regex(r.body, /not connected/);
  t.deepEqual(asked, ['check-update', 'send-inventory'], 'nothing else reached the device');
});

test('a device without an update client answers check-update with an error, and stays connected', async (t) => {
  const c = await connectedDevice(t);
  const r = await c.s.app.inject({ method: 'POST', url: `/api/management/v1/deviceconnect/devices/${c.deviceId}/check-update`, headers: c.s.auth });
  t.is(r.statusCode, 202);
  while (!c.log.some((l) => l.includes('check-update: no update client on this device'))) await new Promise((r) => setTimeout(r, 5));
  // The device's error went back on the connection, which stays up: a session still opens.
  const u = await openUser(t, c);
  u.send({ hdr: { proto: PROTO.control, typ: CONTROL.open }, body: encodeBody({ versions: [1] }) });
  t.is((await u.next())?.hdr.typ, CONTROL.accept);
  t.is(c.s.app.flipside.connect.state(c.deviceId).status, 'connected');
});

test('a terminal session is recorded and played back; unknown sessions are 404', async (t) => {
  const c = await connectedDevice(t, { shell: { command: '/bin/sh', pty: 'pipe' } });
  const u = await openUser(t, c);
  u.send({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { terminal_width: 80, terminal_height: 24 } } });
  const sid = (await u.next())!.hdr.sid!;
  u.send({ hdr: { proto: PROTO.shell, typ: SHELL.data, sid }, body: Buffer.from('echo "recorded-$((6*7))"\nexit\n') });
  const live = text((await u.until((m) => m.hdr.typ === SHELL.stop)).filter((m) => m.hdr.typ === SHELL.data));
  u.ws.close();
  await u.closed;
  while ((await c.s.app.flipside.store.recording(sid))?.end_ts == null) await new Promise((r) => setTimeout(r, 5));
  t.truthy((await c.s.app.flipside.store.recording(sid))?.end_ts, 'the recording ended with the session');

  const play = new WebSocket(`${c.url.replace(/^http/, 'ws')}/api/management/v1/deviceconnect/sessions/${sid}/playback?sleep_ms=0`, { headers: { Authorization: `Bearer ${c.s.adminToken}` } });
  const back = new UserSocket(play);
  const played = await back.until((m) => m.hdr.typ === SHELL.stop);
  t.is(played.at(-1)?.hdr.typ, SHELL.stop);
  t.true(played.every((m) => m.hdr.proto === PROTO.shell && m.hdr.sid === sid));
  t.is(text(played.filter((m) => m.hdr.typ === SHELL.data)), live, 'playback shows what the user saw');
  t.regex(live, /recorded-42/);
  t.is((await back.closed).code, 1000);

  const missing = await fetch(`${c.url}/api/management/v1/deviceconnect/sessions/no-such-session/playback`, { headers: c.s.auth });
  t.is(missing.status, 404);
  const actions = (await c.s.app.flipside.store.auditLog({ limit: 10, offset: 0, objectType: 'device' })).map((e) => e.action);
  t.true(actions.includes('deviceconnect.playback'));
});

test('a recording keeps at most its bound and says it was cut', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  const r = new SessionRecorder(s.app.flipside.store, 'sess-1', 'dev-1', 'a@example.com', 10);
  await r.output(Buffer.from('0123456'));
  await r.output(Buffer.from('789abcdef'));
  await r.output(Buffer.from('more'));
  await r.end();
  const rec = (await s.app.flipside.store.recording('sess-1'))!;
  t.is(rec.bytes, 10);
  t.is(rec.truncated, 1);
  t.is(Buffer.concat((await s.app.flipside.store.recordingChunks('sess-1', 0, 10)).map((c) => c.data)).toString(), '0123456789');
});
