import test from 'ava';
import { loadBoardFile } from '../../boards/load.js';
import { computeLayout } from './layout.js';
import { CLIENT_DISABLE_FILE, connectDaemonConfig, grubFwPrintenv, guestFiles, MENDER_DATA_DIR, MENDER_FW_SETENV, MENDER_REBOOT } from './guest-files.js';
import { userlandPackages } from './debs.js';
import { GRUBENV_GUEST_PATH } from '../boot/grub-cfg.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('the image carries the device identity, version, env location and client config', async (t) => {
  const b = await loadBoardFile('qemu-aarch64');
  const files = guestFiles(b, computeLayout(b), { version: '2.1.0', variant: 'good', client: { serverUrl: 'https://10.0.2.100:80', serverCa: true } });
  t.is(files.get('etc/flipside/device_type')![0], 'device_type=qemu-aarch64\n');
  t.is(files.get('etc/flipside/artifact_info')![0], 'artifact_name=2.1.0\n');
  t.is(files.get('etc/fw_env.config')![0], '/dev/vda 0x400000 0x4000\n/dev/vda 0x404000 0x4000\n');
  const conf = JSON.parse(files.get('etc/flipside/flipside.conf')![0]);
  t.like(conf, {
    RootfsPartA: '/dev/vda2',
    RootfsPartB: '/dev/vda3',
    DataDir: '/data/flipside',
    ServerCertificate: '/etc/flipside/server.crt',
    BootEnv: { type: 'uboot', fwEnvConfig: '/etc/fw_env.config' },
  });
  t.is(files.get('sbin/init')![1], 0o755);
});

test('init mounts /data from the data partition, configures eth0, starts the client unless disabled', async (t) => {
  const b = await loadBoardFile('qemu-aarch64');
  const init = guestFiles(b, computeLayout(b), { version: '1', variant: 'good' }).get('sbin/init')![0];
  t.regex(init, /mount -t ext4 -o noatime \/dev\/vda4 \/data/);
  // The file system is checked (and repaired) before it is mounted.
  t.true(init.indexOf('/sbin/e2fsck.static -p /dev/vda4') < init.indexOf('mount -t ext4 -o noatime /dev/vda4'));
  t.true(init.includes('/sbin/e2fsck.static -p /dev/vda4'));
  t.regex(init, /ip addr add 10\.0\.2\.15\/24 dev eth0 && ip route add default via 10\.0\.2\.2/);
  t.true(init.includes(`[ ! -e ${CLIENT_DISABLE_FILE} ]`));
  t.regex(init, /flipside daemon/);
  t.regex(init, /setsid cttyhack \/bin\/sh -l/);
});

test('without a client bundle there is no client config; broken-init exits at once', async (t) => {
  const b = await loadBoardFile('qemu-aarch64');
  const files = guestFiles(b, computeLayout(b), { version: '1', variant: 'broken-init' });
  t.false(files.has('etc/flipside/flipside.conf'));
  t.regex(files.get('sbin/init')![0], /^#!\/bin\/sh\n[^\n]*\nexit 1\n$/);
});

test('the GRUB board fw_printenv prints the grubenv grub-editenv wrote, name=value, and names what is missing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-grubenv-'));
  const env = join(dir, 'grubenv');
  execFileSync('grub-editenv', [env, 'create']);
  execFileSync('grub-editenv', [env, 'set', 'mender_boot_part=3', 'upgrade_available=1', 'bootcount=0']);
  const script = join(dir, 'fw_printenv');
  writeFileSync(script, grubFwPrintenv().replaceAll(GRUBENV_GUEST_PATH, env), { mode: 0o755 });
  t.is(execFileSync('sh', [script], { encoding: 'utf8' }), 'mender_boot_part=3\nupgrade_available=1\nbootcount=0\n');
  t.is(execFileSync('sh', [script, 'upgrade_available'], { encoding: 'utf8' }), 'upgrade_available=1\n');
  const r = spawnSync('sh', [script, 'boot_part', 'bootcount'], { encoding: 'utf8' });
  t.is(r.status, 1);
  t.is(r.stdout, 'bootcount=0\n');
  t.regex(r.stderr, /"boot_part" not defined/);
});

test("a --client mender image: Debian's mender-client and its libraries, mender.conf for the same server and partitions", async (t) => {
  const pkgs = userlandPackages('mender');
  for (const p of ['mender-client', 'libglib2.0-0', 'liblzma5', 'libffi8', 'libmount1', 'libblkid1', 'libpcre2-8-0', 'libselinux1', 'nodejs', 'libubootenv-tool']) t.true(pkgs.includes(p), p);
  t.false(userlandPackages('flipside').includes('mender-client'));
  const b = await loadBoardFile('qemu-aarch64');
  const files = guestFiles(b, computeLayout(b), { version: '3', variant: 'good', client: { kind: 'mender', serverUrl: 'http://10.0.2.100:80' } });
  t.false(files.has('etc/flipside/flipside.conf'));
  t.deepEqual(JSON.parse(files.get('etc/mender/mender.conf')![0]), {
    ServerURL: 'http://10.0.2.100:80',
    RootfsPartA: '/dev/vda2',
    RootfsPartB: '/dev/vda3',
    DeviceTypeFile: '/etc/mender/device_type',
    UpdatePollIntervalSeconds: 5,
    InventoryPollIntervalSeconds: 30,
    RetryPollIntervalSeconds: 5,
    DBus: { Enabled: false },
  });
  t.is(files.get('etc/mender/device_type')![0], 'device_type=qemu-aarch64\n');
  t.is(files.get('etc/mender/artifact_info')![0], 'artifact_name=3\n');
  // The harness reads the running version from the same file whatever the client.
  t.is(files.get('etc/flipside/artifact_info')![0], 'artifact_name=3\n');
  t.regex(files.get('usr/share/mender/identity/mender-device-identity')![0], /mac=/);
  t.true(files.has('usr/share/mender/inventory/mender-inventory-network'));
  t.is(files.get('usr/sbin/reboot')![0], MENDER_REBOOT);
  // Mender finds the hold hook's fw_setenv first in PATH; the wrapper runs the real one.
  t.is(files.get('usr/sbin/fw_setenv')![0], MENDER_FW_SETENV);
  t.regex(MENDER_FW_SETENV, /\*upgrade_available\*\) flip=1/);
  t.regex(MENDER_FW_SETENV, /= fw_setenv \] && hold fw_setenv\n/);
  t.regex(MENDER_FW_SETENV, /sync\n\[ -n "\$flip" \] && \[ "\$FLIPSIDE_TEST_HOLD_AT" = fw_setenv:done \] && hold fw_setenv:done\nexit \$rc/);
  const init = files.get('sbin/init')![0];
  t.true(init.includes(`mkdir -p ${MENDER_DATA_DIR}`));
  t.regex(init, /\/usr\/bin\/mender --no-syslog daemon/);
  t.true(init.includes(`[ ! -e ${CLIENT_DISABLE_FILE} ]`));
  t.notRegex(init, /flipside daemon/);
  const ca = guestFiles(b, computeLayout(b), { version: '3', variant: 'good', client: { kind: 'mender', serverUrl: 'https://10.0.2.100:80', serverCa: true } });
  t.is(JSON.parse(ca.get('etc/mender/mender.conf')![0]).ServerCertificate, '/etc/flipside/server.crt');
});

test('--client mender is refused on a GRUB board', async (t) => {
  const b = await loadBoardFile('qemu-x86_64-grub');
  t.throws(() => guestFiles(b, computeLayout(b), { version: '1', variant: 'good', client: { kind: 'mender', serverUrl: 'http://x' } }), { message: /needs a U-Boot board/ });
});

test("Mender's fw_setenv wrapper passes the arguments and the exit code of the real one through when no hold is asked for", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-fwsetenv-'));
  const real = join(dir, 'real');
  writeFileSync(real, `#!/bin/sh\necho "$@" > ${dir}/args\n[ "$1" = -s ] && cat > ${dir}/script\nexit 3\n`, { mode: 0o755 });
  const wrapper = join(dir, 'fw_setenv');
  const console = join(dir, 'console');
  writeFileSync(wrapper, MENDER_FW_SETENV.replaceAll('/usr/bin/fw_setenv', real).replaceAll('/dev/console', console), { mode: 0o755 });
  const r = spawnSync('sh', [wrapper, 'upgrade_available', '0'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  t.is(r.status, 3);
  t.is(execFileSync('cat', [join(dir, 'args')], { encoding: 'utf8' }), 'upgrade_available 0\n');
  // Mender's form: a script on stdin.
  const s = spawnSync('sh', [wrapper, '-s', '-'], { encoding: 'utf8', input: 'upgrade_available=0\nbootcount=0\n', env: { PATH: process.env.PATH } });
  t.is(s.status, 3);
  t.is(execFileSync('cat', [join(dir, 'script')], { encoding: 'utf8' }), 'upgrade_available=0\nbootcount=0\n');
  t.is(execFileSync('cat', [console], { encoding: 'utf8' }), 'flipside: fw_setenv -s - upgrade_available=0 bootcount=0\n');
});

test("init's check repairs a /data whose superblock a power cut tore, and the files on it survive", async (t) => {
  const b = await loadBoardFile('qemu-aarch64');
  const init = guestFiles(b, computeLayout(b), { version: '1', variant: 'good' }).get('sbin/init')![0];
  // The check as init runs it, on a file instead of /dev/vda4 and with the host's e2fsck.
  const check = init.slice(init.indexOf('if [ -x /sbin/e2fsck.static ]'), init.indexOf('mount -t ext4 -o noatime'));
  t.regex(check, /^if .*\n(.*\n)+fi\n$/);
  const e2fsck = ['/usr/sbin/e2fsck', '/sbin/e2fsck'].find((p) => spawnSync(p, ['-V']).status === 0);
  if (!e2fsck) {
    t.log('no e2fsck on this host (Debian: e2fsprogs): the repair is not exercised');
    t.pass();
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'flipside-fsck-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const img = join(dir, 'data.ext4');
  execFileSync('mkfs.ext4', ['-q', '-F', '-b', '1024', img, '16M']);
  writeFileSync(join(dir, 'canary'), 'canary-42\n');
  execFileSync('debugfs', ['-w', '-R', `write ${join(dir, 'canary')} canary`, img], { stdio: 'ignore' });
  // Tear the primary superblock: its second 512-byte sector reads back as zeros.
  const fd = openSync(img, 'r+');
  writeSync(fd, Buffer.alloc(512), 0, 512, 1024 + 512);
  closeSync(fd);
  t.not(spawnSync(e2fsck, ['-n', img]).status, 0, 'the torn superblock is seen as damage');
  const run = spawnSync('sh', ['-c', check.replaceAll('/sbin/e2fsck.static', e2fsck).replaceAll('/dev/vda4', img)], { encoding: 'utf8' });
  t.regex(run.stdout, /e2fsck -p .* exited with [48]; repairing with -y/);
  t.is(spawnSync(e2fsck, ['-n', '-f', img]).status, 0, 'clean after the repair');
  t.is(execFileSync('debugfs', ['-R', 'cat canary', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), 'canary-42\n');
});

test("a lab board whose console is deviceconnect runs the connect daemon, configured for the user's server and CA", async (t) => {
  const b = await loadBoardFile('beaglebone-black');
  const init = (board: typeof b) => guestFiles(board, computeLayout(board), { version: '1', variant: 'good' }).get('sbin/init')![0];
  t.false(init(b).includes('starting the connect daemon'), 'a serial console: no second daemon');
  const viaServer = { ...b, lab: { ...b.lab!, console: { type: 'deviceconnect' as const, server: 'https://lab:8443', identity: { mac: 'x' } } } };
  t.regex(init(viaServer), /flipside -c \/data\/flipside-connect\/flipside.conf daemon/);
  const conf = connectDaemonConfig(computeLayout(b), { serverUrl: 'https://192.168.7.1:8443', serverCertificate: '/data/flipside-connect/server.crt' });
  t.like(conf, { ServerURL: 'https://192.168.7.1:8443', ServerCertificate: '/data/flipside-connect/server.crt', DataDir: '/data/flipside-connect', Connect: { Enabled: true }, RootfsPartA: '/dev/mmcblk0p2' });
  t.false('ServerCertificate' in connectDaemonConfig(computeLayout(b)), 'QEMU: the bundled server over plain http');
});
