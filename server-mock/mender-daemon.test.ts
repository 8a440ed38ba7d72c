// The real Mender client (Debian's mender 3.4.0 daemon) on the host against flipside-server on
// loopback: it authenticates, is accepted, sends inventory, installs a module deployment to success
// and a failing one to failure with its log, and a rootfs-image onto two loop devices with the real
// fw_setenv on a U-Boot env blob: written, flipped, rebooted (a stub that plays U-Boot and cuts the
// power), committed by the restarted daemon. Debian's 3.4.0 reads /etc/mender, /usr/share/mender
// and /var/lib/mender at fixed paths, so it runs in a mount namespace of its own (`unshare -m`)
// with bind mounts over those three: the machine's /etc is never touched. Skipped, not passed,
// where mender, unshare or root (for the namespace) are missing.
import test, { type ExecutionContext } from 'ava';
import { execa, type ResultPromise } from 'execa';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startTestServer, uploadArtifact, createDeployment, acceptDevice, type TestServer } from './testing/fixtures.js';
import { writeToBuffer } from '../artifact/testing/support.js';
import { findPeer } from '../test-support/mender-peers.js';

const MENDER = findPeer('mender');
const UNSHARE = findPeer('unshare');
const isRoot = process.getuid?.() === 0;
const why = !MENDER ? 'mender not installed' : !UNSHARE ? 'unshare not installed' : !isRoot ? 'not root (a mount namespace needs it)' : '';
const run = why ? test.skip : test.serial;
const suffix = why ? ` (skipped: ${why})` : '';

const MOUNT = findPeer('mount') ?? '/bin/mount';
const MKENVIMAGE = findPeer('mkenvimage');
const FW_PRINTENV = findPeer('fw_printenv');
const FW_SETENV = findPeer('fw_setenv');
const LOSETUP = findPeer('losetup');
const loopsAvailable = !!LOSETUP && isRoot && spawnSync(LOSETUP, ['-f'], { encoding: 'utf8' }).status === 0;
const rootfsWhy =
  why || (!MKENVIMAGE ? 'mkenvimage not installed' : !FW_PRINTENV || !FW_SETENV ? 'fw_printenv/fw_setenv not installed' : !loopsAvailable ? 'no free loop device' : '');
/** Loop devices this file attached; detached when its tests end. */
const loops: string[] = [];
test.after.always(() => {
  for (const l of loops.splice(0)) spawnSync(LOSETUP!, ['-d', l]);
});
const runRootfs = rootfsWhy ? test.skip : test.serial;
const PART_BYTES = 4 << 20;

const IDENTITY = { mac: '52:54:00:f1:19:5d' };
const DEVICE_TYPE = 'mender-host';

interface Daemon {
  s: TestServer;
  root: string;
  proc: ResultPromise;
  log(): string;
  deviceId: string;
}

/** Polls `check` until it returns a value; fails with `what` and the daemon's last log lines. */
async function until<T>(d: { log(): string }, what: string, check: () => Promise<T | undefined | false>, limitMs = 90_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; mender's log ends:\n${d.log().split('\n').slice(-25).join('\n')}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * A tree for the daemon: its /etc/mender, /var/lib, /usr/share/mender, and a PATH with a reboot
 * stub. With `rootfs`, two partition files and a U-Boot env blob: 3.4.0 takes the root device from
 * `mount` output and mender_boot_part (installer/partitions.go), so a `mount` stub names the
 * partition file that was "booted", fw_printenv/fw_setenv are the real libubootenv tools on the
 * env blob, and the reboot stub plays U-Boot (bootcount, boot mender_boot_part) and cuts power.
 */
function makeTree(url: string, rootfs = false): string {
  const root = mkdtempSync(join(tmpdir(), 'flipside-mender-daemon-'));
  const d = (p: string) => {
    mkdirSync(join(root, p), { recursive: true });
    return join(root, p);
  };
  const etc = d('etc-mender');
  const data = d('var-lib/mender');
  const share = d('share-mender');
  const bin = d('bin');
  const part = (n: number) => join(root, 'part', `rootfs${n}`);
  writeFileSync(
    join(etc, 'mender.conf'),
    JSON.stringify({
      ServerURL: url,
      UpdatePollIntervalSeconds: 2,
      InventoryPollIntervalSeconds: 2,
      RetryPollIntervalSeconds: 1,
      DeviceTypeFile: '/var/lib/mender/device_type',
      ...(rootfs ? { RootfsPartA: part(2), RootfsPartB: part(3) } : {}),
    }),
  );
  writeFileSync(join(etc, 'artifact_info'), 'artifact_name=release-0\n');
  writeFileSync(join(data, 'device_type'), `device_type=${DEVICE_TYPE}\n`);
  // A key made here: 3.4.0 would make a 3072-bit RSA key itself, seconds on a busy machine.
  const key = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  writeFileSync(join(data, 'mender-agent.pem'), key.privateKey, { mode: 0o600 });
  const script = (p: string, body: string) => {
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
  };
  script(join(d('share-mender/identity'), 'mender-device-identity'), `echo mac=${IDENTITY.mac}`);
  script(join(d('share-mender/inventory'), 'mender-inventory-flipside'), 'echo flipside_test=yes\necho hostname=mender-host-test');
  const modules = d('share-mender/modules/v3');
  for (const m of readdirSync('/usr/share/mender/modules/v3')) copyFileSync(join('/usr/share/mender/modules/v3', m), join(modules, m));
  // The reboot command is a stub: it records the request (the module deployments here need none).
  if (!rootfs) {
    script(join(bin, 'reboot'), `echo reboot >> ${join(root, 'reboot-requests')}`);
    return root;
  }
  // 3.4.0 writes only to a block device: each partition is a loop device over a file, named by a
  // symlink that ends in its partition number as mender_boot_part expects (rootfs2, rootfs3).
  mkdirSync(join(root, 'part'));
  for (const [n, fill] of [[2, 0xa2], [3, 0xb3]] as const) {
    writeFileSync(join(root, 'part', `backing${n}`), Buffer.alloc(PART_BYTES, fill));
    const lo = spawnSync(LOSETUP!, ['-f', '--show', join(root, 'part', `backing${n}`)], { encoding: 'utf8' });
    if (lo.status !== 0) throw new Error(`losetup: ${lo.stderr}`);
    loops.push(lo.stdout.trim());
    symlinkSync(lo.stdout.trim(), part(n));
  }
  writeFileSync(join(root, 'booted'), part(2));
  const cfg = join(root, 'fw_env.config');
  writeFileSync(cfg, `${join(root, 'uboot.env')} 0x0 0x4000\n`);
  writeFileSync(join(root, 'env.txt'), 'mender_boot_part=2\nmender_boot_part_hex=2\nupgrade_available=0\nbootcount=0\nbootlimit=1\n');
  const mk = spawnSync(MKENVIMAGE!, ['-s', '0x4000', '-o', join(root, 'uboot.env'), join(root, 'env.txt')], { encoding: 'utf8' });
  if (mk.status !== 0) throw new Error(`mkenvimage: ${mk.stderr}`);
  script(join(bin, 'fw_printenv'), `exec ${FW_PRINTENV} -c ${cfg} "$@"`);
  script(join(bin, 'fw_setenv'), `exec ${FW_SETENV} -c ${cfg} "$@"`);
  script(join(bin, 'mount'), `echo "$(cat ${join(root, 'booted')}) on / type ext4 (rw,relatime)"`);
  script(
    join(bin, 'reboot'),
    [
      `echo reboot >> ${join(root, 'reboot-requests')}`,
      `get() { ${FW_PRINTENV} -c ${cfg} -n "$1"; }`,
      // U-Boot: count a boot of an untested update, boot mender_boot_part, or the other one past bootlimit.
      'p=$(get mender_boot_part)',
      'if [ "$(get upgrade_available)" = 1 ]; then',
      '  c=$(( $(get bootcount) + 1 )); printf "bootcount=%s\\n" "$c" | ' + `${FW_SETENV} -c ${cfg} -s -`,
      '  if [ "$c" -gt "$(get bootlimit)" ]; then p=$(( 5 - p )); fi',
      'fi',
      `echo ${join(root, 'part', 'rootfs')}$p > ${join(root, 'booted')}`,
      // The power goes: the daemon that asked for the reboot dies here, as on a board.
      'kill -9 $PPID',
    ].join('\n'),
  );
  void share;
  return root;
}

/** The daemon in its own mount namespace over the tree (the bind mounts use the real mount). */
function spawnDaemon(root: string): ResultPromise {
  const mounts = [
    `${MOUNT} --bind ${join(root, 'etc-mender')} /etc/mender`,
    `${MOUNT} --bind ${join(root, 'var-lib')} /var/lib`,
    `${MOUNT} --bind ${join(root, 'share-mender')} /usr/share/mender`,
  ].join(' && ');
  return execa(UNSHARE!, ['-m', '--propagation', 'private', 'sh', '-c', `${mounts} && exec ${MENDER} --no-syslog --log-file ${join(root, 'mender.log')} --log-level info daemon`], {
    env: { PATH: `${join(root, 'bin')}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: root },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  });
}

async function startDaemon(t: ExecutionContext, rootfs = false): Promise<Daemon> {
  const s = await startTestServer();
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
  const root = makeTree(url, rootfs);
  const logFile = join(root, 'mender.log');
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const d: Daemon = { s, root, proc: spawnDaemon(root), log, deviceId: '' };
  t.teardown(async () => {
    d.proc.kill('SIGTERM');
    await d.proc;
    await s.close();
    if (t.passed) rmSync(root, { recursive: true, force: true });
    else t.log(`mender's tree kept at ${root}`);
  });
  // First auth request: pending until accepted, as Mender's server answers.
  await until(d, 'the auth request (a pending device)', async () => {
    const r = await s.app.inject({ method: 'GET', url: '/api/management/v2/devauth/devices?status=pending', headers: s.auth });
    return r.json<Array<{ identity_data: Record<string, string> }>>().some((x) => x.identity_data.mac === IDENTITY.mac);
  });
  d.deviceId = await acceptDevice(s, IDENTITY);
  return d;
}

type InventoryAttr = { name: string; value: unknown };
async function inventory(d: Daemon): Promise<Record<string, unknown>> {
  const r = await d.s.app.inject({ method: 'GET', url: `/api/management/v1/inventory/devices/${d.deviceId}`, headers: d.s.auth });
  if (r.statusCode !== 200) return {};
  return Object.fromEntries(r.json<{ attributes: InventoryAttr[] }>().attributes.map((a) => [a.name, a.value]));
}

interface DeviceDeployment {
  status: string;
  log: boolean;
  download?: { bytes: number; total: number; served: number; requests: number; resumes: number; restarts: number };
}
async function deviceDeployment(d: Daemon, dep: string): Promise<DeviceDeployment | undefined> {
  const r = await d.s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${dep}/devices`, headers: d.s.auth });
  return r.json<Array<DeviceDeployment & { id: string }>>().find((x) => x.id === d.deviceId);
}

/** A module-image for the Debian `script` module: the payload runs at ArtifactInstall. */
async function scriptArtifact(d: Daemon, name: string, body: string): Promise<void> {
  const buf = await writeToBuffer({ type: 'script', kind: 'module-image', name, deviceTypes: [DEVICE_TYPE], files: [{ name: 'run.sh', content: Buffer.from(`#!/bin/sh\n${body}\n`), mode: 0o755 }] });
  const up = await uploadArtifact(d.s, buf);
  if (up.statusCode !== 201) throw new Error(`upload ${name}: ${up.statusCode} ${up.body}`);
}

run(`mender 3.4.0 daemon: authenticated, accepted, inventory, a module deployment to success and a failing one to failure with its log${suffix}`, async (t) => {
  t.timeout(300_000);
  const d = await startDaemon(t);
  t.regex(d.deviceId, /^[0-9a-f-]{36}$/);

  // Inventory: the script's attributes and what the client adds itself.
  const inv = await until(d, 'inventory from the daemon', async () => {
    const i = await inventory(d);
    return i.flipside_test === 'yes' && i.artifact_name ? i : undefined;
  });
  t.is(inv.artifact_name, 'release-0');
  t.is(inv.device_type, DEVICE_TYPE);
  t.is(inv.hostname, 'mender-host-test');
  t.regex(String(inv.mender_client_version), /^3\.4\.0/);

  // Success: the payload runs, the status walks to success, the provides follow.
  const marker = join(d.root, 'installed-marker');
  await scriptArtifact(d, 'module-ok-1', `echo installed > ${marker}`);
  const ok = await createDeployment(d.s, { artifact_name: 'module-ok-1', devices: [d.deviceId] });
  const okEnd = await until(d, 'the deployment to end', async () => {
    const x = await deviceDeployment(d, ok);
    return x && ['success', 'failure'].includes(x.status) ? x : undefined;
  });
  t.is(okEnd.status, 'success', d.log().split('\n').slice(-20).join('\n'));
  // Download progress needs nothing from the client: the Mender client's download was counted.
  t.true(okEnd.download !== undefined && okEnd.download.bytes === okEnd.download.total && okEnd.download.resumes === 0, JSON.stringify(okEnd.download));
  t.is(readFileSync(marker, 'utf8'), 'installed\n');
  await until(d, 'inventory with the new artifact name', async () => (await inventory(d)).artifact_name === 'module-ok-1');

  // Failure: the payload exits 1; the deployment fails and the device uploads its log.
  await scriptArtifact(d, 'module-fail-1', 'echo "flipside-payload-refuses" >&2\nexit 1');
  const bad = await createDeployment(d.s, { artifact_name: 'module-fail-1', devices: [d.deviceId] });
  const badEnd = await until(d, 'the failing deployment to end', async () => {
    const x = await deviceDeployment(d, bad);
    return x && ['success', 'failure'].includes(x.status) && x.log ? x : undefined;
  });
  t.is(badEnd.status, 'failure');
  const log = await d.s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${bad}/devices/${d.deviceId}/log`, headers: d.s.auth });
  t.is(log.statusCode, 200);
  t.regex(log.body, /Running Mender client version: 3\.4\.0/);
  t.regex(log.body, /flipside-payload-refuses/);
  // The script module cannot roll back, so Mender reports the half-installed state as it always
  // does: the failed artifact's name with _INCONSISTENT (not the old name, not the new one).
  let last: unknown;
  await until(d, 'inventory after the failure', async () => {
    last = (await inventory(d)).artifact_name;
    return last === 'module-fail-1_INCONSISTENT';
  }, 30_000).catch((e: Error) => {
    throw new Error(`${e.message}\nlast artifact_name in inventory: ${JSON.stringify(last)}`);
  });
  t.false(existsSync(join(d.root, 'reboot-requests')), 'no module here asked for a reboot');
});

function env(root: string): Record<string, string> {
  const r = spawnSync(FW_PRINTENV!, ['-c', join(root, 'fw_env.config')], { encoding: 'utf8' });
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

runRootfs(`mender 3.4.0 daemon: a rootfs-image deployment onto two loop devices: written, flipped, rebooted, committed${rootfsWhy ? ` (skipped: ${rootfsWhy})` : ''}`, async (t) => {
  t.timeout(300_000);
  const d = await startDaemon(t, true);
  await until(d, 'inventory from the daemon', async () => (await inventory(d)).artifact_name === 'release-0');
  const image = Buffer.alloc(1 << 20);
  for (let i = 0; i < image.length; i++) image[i] = (i * 7 + (i >> 9)) & 0xff;
  const art = await writeToBuffer({ type: 'rootfs-image', name: 'rootfs-2', deviceTypes: [DEVICE_TYPE], files: [{ name: 'rootfs.ext4', content: image }] });
  t.is((await uploadArtifact(d.s, art)).statusCode, 201);
  const dep = await createDeployment(d.s, { artifact_name: 'rootfs-2', devices: [d.deviceId] });

  // Written to the inactive partition, env flipped, then the reboot: the stub cuts the power.
  await until(d, 'the reboot request', async () => existsSync(join(d.root, 'reboot-requests')));
  await d.proc;
  const flipped = env(d.root);
  t.like(flipped, { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '1', bootcount: '1' });
  t.true(readFileSync(join(d.root, 'part', 'rootfs3')).subarray(0, image.length).equals(image), 'the image is on partition 3');
  t.true(readFileSync(join(d.root, 'part', 'rootfs2')).every((b) => b === 0xa2), 'partition 2 untouched');
  t.is((await deviceDeployment(d, dep))?.status, 'rebooting');

  // Power on: booted from partition 3, the daemon resumes from its store and commits.
  d.proc = spawnDaemon(d.root);
  const end = await until(d, 'the deployment to end', async () => {
    const x = await deviceDeployment(d, dep);
    return x && ['success', 'failure'].includes(x.status) ? x : undefined;
  });
  t.is(end.status, 'success', d.log().split('\n').slice(-20).join('\n'));
  // The server saw the Mender client fetch the whole artifact through its signed link, in one go.
  t.like(end.download, { bytes: art.length, total: art.length, served: art.length, requests: 1, resumes: 0, restarts: 0 });
  t.like(env(d.root), { mender_boot_part: '3', upgrade_available: '0' });
  t.is(readFileSync(join(d.root, 'reboot-requests'), 'utf8'), 'reboot\n', 'one reboot');
  await until(d, 'inventory with the new rootfs', async () => (await inventory(d)).artifact_name === 'rootfs-2');
  t.true(d.log().includes(`Mender running on partition: ${join(d.root, 'part', 'rootfs3')}`));
});
