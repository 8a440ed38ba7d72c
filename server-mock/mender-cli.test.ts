// The real mender-cli 1.9.0 (Debian) against flipside-server on loopback: login, artifacts
// upload/list/delete, devices list. Skipped, not passed, where mender-cli is not installed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startTestServer, acceptedDevice, ADMIN, type TestServer } from './testing/fixtures.js';
import { writeToBuffer } from '../artifact/testing/support.js';
import { findPeer, runToolAsync, testWithPeers } from '../test-support/mender-peers.js';

const { test, missing } = testWithPeers('mender-cli');
const suffix = missing.length ? ' (skipped: mender-cli not installed)' : '';
const CLI = findPeer('mender-cli') ?? 'mender-cli';

interface Ctx {
  s: TestServer;
  url: string;
  home: string;
  cli(...args: string[]): ReturnType<typeof runToolAsync>;
}

async function setup(t: import('ava').ExecutionContext): Promise<Ctx> {
  const s = await startTestServer();
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
  // mender-cli keeps its token under $HOME/.cache/mender: a HOME of its own per test.
  const home = mkdtempSync(join(tmpdir(), 'flipside-mender-cli-'));
  t.teardown(async () => {
    await s.close();
    rmSync(home, { recursive: true, force: true });
  });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home };
  return { s, url, home, cli: (...args: string[]) => runToolAsync(CLI, [...args, '--server', url], { env, cwd: home }) };
}

test(`mender-cli 1.9.0: login refused with a wrong password, accepted with the right one${suffix}`, async (t) => {
  const c = await setup(t);
  const bad = await c.cli('login', '--username', ADMIN.email, '--password', 'wrong-password');
  t.not(bad.code, 0);
  t.regex(bad.out + bad.err, /401|unauthorized|login failed/i);
  const ok = await c.cli('login', '--username', ADMIN.email, '--password', ADMIN.password);
  t.is(ok.code, 0, ok.out + ok.err);
  t.regex(ok.out + ok.err, /login successful/);
});

test(`mender-cli 1.9.0: artifacts upload, list (every detail level), delete${suffix}`, async (t) => {
  const c = await setup(t);
  t.is((await c.cli('login', '--username', ADMIN.email, '--password', ADMIN.password)).code, 0);
  const rootfs = join(c.home, 'rootfs.mender');
  writeFileSync(rootfs, await writeToBuffer({ type: 'rootfs-image', name: 'cli-rootfs-1', deviceTypes: ['qemux86-64'], files: [{ name: 'rootfs.img', content: Buffer.alloc(70_000, 7) }] }));
  const mod = join(c.home, 'module.mender');
  writeFileSync(mod, await writeToBuffer({ type: 'single-file', kind: 'module-image', name: 'cli-mod-1', deviceTypes: ['qemux86-64'], metaData: { k: 'v' }, files: [{ name: 'f.txt', content: Buffer.from('x\n') }] }));
  for (const f of [rootfs, mod]) {
    const up = await c.cli('artifacts', 'upload', f, '--description', 'from mender-cli', '--no-progress');
    t.is(up.code, 0, up.out + up.err);
    t.regex(up.out + up.err, /upload successful/);
  }
  const dup = await c.cli('artifacts', 'upload', rootfs, '--no-progress');
  t.not(dup.code, 0, 'the same name and device type twice is a conflict');
  const junk = join(c.home, 'junk.mender');
  writeFileSync(junk, 'not an artifact');
  const bad = await c.cli('artifacts', 'upload', junk, '--no-progress');
  t.not(bad.code, 0);
  for (const detail of ['0', '1', '2', '3']) {
    const l = await c.cli('artifacts', 'list', '-d', detail);
    t.is(l.code, 0, `-d ${detail}: ${l.out}${l.err}`);
    t.regex(l.out, /Name: cli-rootfs-1/);
    t.regex(l.out, /Name: cli-mod-1/);
  }
  const detailed = (await c.cli('artifacts', 'list', '-d', '3')).out;
  t.regex(detailed, /Type: rootfs-image/);
  t.regex(detailed, /Type: single-file/);
  t.regex(detailed, /Description: from mender-cli/);
  const id = /ID: (\S+)\nName: cli-mod-1/.exec(detailed)?.[1];
  t.truthy(id);
  const del = await c.cli('artifacts', 'delete', id!);
  t.is(del.code, 0, del.out + del.err);
  const after = (await c.cli('artifacts', 'list')).out;
  t.notRegex(after, /cli-mod-1/);
  t.regex(after, /cli-rootfs-1/);
  const again = await c.cli('artifacts', 'delete', id!);
  t.not(again.code, 0, 'deleting it twice is a 404');
});

test(`mender-cli 1.9.0: devices list shows an accepted device (plain and raw JSON)${suffix}`, async (t) => {
  const c = await setup(t);
  const d = await acceptedDevice(c.s, { identity: { mac: '52:54:00:12:34:56' } });
  t.is((await c.cli('login', '--username', ADMIN.email, '--password', ADMIN.password)).code, 0);
  const l = await c.cli('devices', 'list', '-d', '3');
  t.is(l.code, 0, l.out + l.err);
  t.regex(l.out, new RegExp(`ID: ${d.deviceId}`));
  const raw = await c.cli('devices', 'list', '-r');
  t.is(raw.code, 0, raw.out + raw.err);
  // Raw mode prints the server's JSON on stderr (its log stream); stdout has the config notice.
  const text = raw.out + raw.err;
  const devices = JSON.parse(text.slice(text.indexOf('['), text.lastIndexOf(']') + 1)) as Array<{ id: string }>;
  t.true(devices.some((x) => x.id === d.deviceId));
});
