import test from 'ava';
import { loadBoardFile } from '../../boards/load.js';
import { computeLayout } from '../image/layout.js';
import { bootMount, clientConfig, guestFiles, initScript } from '../image/guest-files.js';
import { GRUBENV_GUEST_PATH, initialGrubEnv, renderGrubCfg } from './grub-cfg.js';

const grubBoard = () => loadBoardFile('qemu-x86_64-grub');

test('grub.cfg: every field filled from the board; env on the boot partition; roots per slot', async (t) => {
  const b = await grubBoard();
  const s = renderGrubCfg(b, computeLayout(b));
  t.notRegex(s, /@@/);
  t.regex(s, /^set fs_env=\(hd0,msdos1\)\/grubenv$/m);
  t.regex(s, /^load_env --file \$\{fs_env\} mender_boot_part upgrade_available bootcount$/m);
  t.regex(s, /^set mender_rootfsa_part=2$/m);
  t.regex(s, /^set mender_rootfsb_part=3$/m);
  t.regex(s, /set fs_root=\/dev\/vda3\nelse\n {2}set fs_root=\/dev\/vda2/);
  t.regex(s, /^set root=hd0,msdos\$\{mender_boot_part\}$/m);
  t.regex(s, /console=ttyS0,115200 root=\$\{fs_root\} ro rootwait panic=3/);
});

test("grub.cfg: Mender's rule: an upgrade boot with bootcount already set swaps back, else counts and saves", async (t) => {
  const b = await grubBoard();
  const s = renderGrubCfg(b, computeLayout(b));
  const upgrade = s.slice(s.indexOf('if [ "${upgrade_available}" = "1" ]'));
  t.regex(upgrade, /if \[ "\$\{bootcount\}" != "0" \]; then\n\s+echo "flipside: bootcount already set on an upgrade boot, rolling back"/);
  t.regex(upgrade, /set upgrade_available=0\n\s+set bootcount=0\n\s+else\n\s+echo "flipside: trial boot of the update"\n\s+set bootcount=1\n\s+fi\n\s+save_env --file \$\{fs_env\} mender_boot_part upgrade_available bootcount/);
  // A failed load reboots, so the trial is counted again on the next boot.
  t.regex(s, /echo "flipside: boot failed, resetting"\nreboot\n$/);
});

test('grub.cfg refuses a U-Boot board', async (t) => {
  const b = await loadBoardFile('qemu-aarch64');
  t.throws(() => renderGrubCfg(b, computeLayout(b)), { message: /not GRUB/ });
});

test('the GRUB image: client edits the grubenv on the read-write boot mount; no fw_env.config', async (t) => {
  const b = await grubBoard();
  const layout = computeLayout(b);
  t.is(layout.env, null);
  t.deepEqual(initialGrubEnv(layout), { mender_boot_part: '2', upgrade_available: '0', bootcount: '0' });
  const cfg = clientConfig(layout, { serverUrl: 'http://10.0.2.100:80', grub: true });
  t.deepEqual(cfg.BootEnv, { type: 'grub', envFile: GRUBENV_GUEST_PATH });
  t.deepEqual(cfg.BootVars, { BootPart: 'mender_boot_part', UpgradeAvailable: 'upgrade_available', BootCount: 'bootcount' });
  t.like(bootMount(b), { dir: '/boot/grub' });
  t.regex(initScript(b, layout), /^mount -t vfat -o rw,sync,flush \/dev\/vda1 \/boot\/grub /m);
  const files = guestFiles(b, layout, { version: '1', variant: 'good', client: { serverUrl: 'http://10.0.2.100:80' } });
  t.false(files.has('etc/fw_env.config'));
  t.true(files.has('boot/grub/.boot-partition-mounts-here'));
  t.is(JSON.parse(files.get('etc/flipside/flipside.conf')![0]).BootEnv.type, 'grub');
  // U-Boot boards keep theirs.
  const u = await loadBoardFile('qemu-aarch64');
  t.deepEqual(bootMount(u), { dir: '/uboot', options: 'ro' });
  t.is(JSON.parse(guestFiles(u, computeLayout(u), { version: '1', variant: 'good', client: { serverUrl: 'http://x' } }).get('etc/flipside/flipside.conf')![0]).BootEnv.type, 'uboot');
});
