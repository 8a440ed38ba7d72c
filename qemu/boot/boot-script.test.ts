import test from 'ava';
import { readFileSync } from 'node:fs';
import { ubootOf, type BoardFile } from '../../boards/schema.js';
import { loadBoardFile } from '../../boards/load.js';
import { computeLayout } from '../image/layout.js';
import { BOOT_CMD_TEMPLATE, ENV_VARS, renderBootScript, scratchMap } from './boot-script.js';

async function board(over: (b: BoardFile) => void = () => {}): Promise<BoardFile> {
  const b = await loadBoardFile('qemu-aarch64');
  over(b);
  return b;
}

test('every template field is filled; sectors and addresses come from the board', async (t) => {
  const b = await board();
  const s = renderBootScript(b, computeLayout(b));
  t.notRegex(s, /@@/);
  // Env copies at 4 MiB and 4 MiB + 16 KiB: sectors 0x2000 and 0x2020, 0x20 sectors each.
  t.regex(s, /^virtio read 0x50000000 0x2000 0x20$/m);
  t.regex(s, /^virtio read 0x50004000 0x2020 0x20$/m);
  // Redundant copy [crc][flag][data] rearranged to [crc][data] for env import -c.
  t.regex(s, /^cp\.b 0x50000005 0x50008004 0x3ffb$/m);
  t.regex(s, /^cp\.b 0x50004005 0x5000c004 0x3ffb$/m);
  t.regex(s, /env import -c 0x50008000 0x3fff mender_boot_part mender_boot_part_hex upgrade_available bootcount bootlimit mender_check_saveenv_canary mender_saveenv_canary boot_part;/);
  t.regex(s, /booti \$\{kernel_addr_r\} \$\{ramdisk_addr_r\}:\$\{filesize\} \$\{fdt_addr\}/);
  t.regex(s, /console=ttyAMA0,115200 root=\$\{mender_kernel_root\}/);
});

test('newer-copy rule matches libubootenv: greater flags wins, 255 -> 0 wraps', async (t) => {
  const b = await board();
  const s = renderBootScript(b, computeLayout(b));
  t.regex(s, /itest\.b \*0x50004004 -gt \*0x50000004; then setenv fs_current 2/);
  t.regex(s, /itest\.b \*0x50000004 == 0 && itest\.b \*0x50004004 == 0xff; then setenv fs_current 1/);
  t.regex(s, /itest\.b \*0x50000004 == 0xff && itest\.b \*0x50004004 == 0; then setenv fs_current 2/);
});

test('with setexpr the save bumps the flag arithmetically; without, through a 256-entry table', async (t) => {
  const b = await board();
  const withSetexpr = renderBootScript(b, computeLayout(b));
  t.regex(withSetexpr, /setexpr\.b fs_flag \*\$\{fs_cur_flag\} \+ 1/);
  const nb = await board((x) => {
    const bl = ubootOf(x);
    bl.hasSetexpr = false;
    bl.bootCommand = 'zboot';
  });
  const without = renderBootScript(nb, computeLayout(nb));
  t.notRegex(without, /setexpr/);
  const m = scratchMap(ubootOf(nb).scratchAddr, nb.env!.size);
  const flag = `0x${(m.out + 4).toString(16)}`;
  t.regex(without, new RegExp(`itest\\.b \\*\\$\\{fs_cur_flag\\} == 0xff; then mw\\.b ${flag} 0x0; fi`));
  t.regex(without, new RegExp(`== 0x7; then mw\\.b ${flag} 0x8; fi`));
  t.is(without.match(/then mw\.b/g)!.length, 256);
  t.regex(without, /zboot \$\{kernel_addr_r\} 0 \$\{ramdisk_addr_r\} \$\{filesize\}/);
});

test('bootcount table covers 0..bootlimit+1, anything else counts as exceeded', async (t) => {
  const b = await board((x) => (x.bootloader.bootlimit = 3));
  const s = renderBootScript(b, computeLayout(b));
  for (let i = 0; i <= 4; i++) t.true(s.includes(`== "x${i}"; then setenv fs_next ${i + 1}; fi`));
  t.false(s.includes('== "x5"; then setenv fs_next'));
  t.regex(s, /setenv fs_next 99/);
  t.regex(s, /setenv bootlimit 3; setenv fs_save 1/);
});

test('an unknown template field is an error naming the file', async (t) => {
  const b = await board();
  t.throws(() => renderBootScript(b, computeLayout(b), 'echo @@NOPE@@\n'), { message: /boot\.cmd: unknown field @@NOPE@@/ });
  t.true(readFileSync(BOOT_CMD_TEMPLATE, 'utf8').includes('reset'));
});

/** The lines of the script between `from` (a line matching it) and the next line at the same indent that closes it. */
function block(s: string, from: RegExp): string {
  const lines = s.split('\n');
  const start = lines.findIndex((l) => from.test(l));
  if (start < 0) throw new Error(`no line matches ${from}`);
  const indent = /^ */.exec(lines[start]!)![0];
  const end = lines.findIndex((l, i) => i > start && l === `${indent}fi`);
  return lines.slice(start, end + 1).join('\n');
}

test("the env holds Mender's variables: imported (with the legacy boot_part), exported without it", async (t) => {
  const b = await board();
  const s = renderBootScript(b, computeLayout(b));
  t.deepEqual([...ENV_VARS], ['mender_boot_part', 'mender_boot_part_hex', 'upgrade_available', 'bootcount', 'bootlimit', 'mender_check_saveenv_canary', 'mender_saveenv_canary']);
  // Every imported variable is cleared first, so a missing one is never U-Boot's own value.
  for (const v of [...ENV_VARS, 'boot_part']) t.regex(s, new RegExp(`^setenv ${v}$[\\s\\S]*^if env import -c`, 'm'), v);
  const exports = s.match(/env export -c -s 0x3fff 0x[0-9a-f]+ (.*)$/m);
  t.is(exports?.[1], ENV_VARS.join(' '));
  t.false(exports![1]!.split(' ').includes('boot_part'));
});

test('defaults are meta-mender\'s: slot A, its hex twin, upgrade_available=0, bootcount=0, the board\'s bootlimit', async (t) => {
  const b = await board();
  const s = renderBootScript(b, computeLayout(b));
  const part = block(s, /^if itest\.s "x\$\{mender_boot_part\}" != "x2" && itest\.s "x\$\{mender_boot_part\}" != "x3"; then$/);
  t.regex(part, /^ {4}setenv mender_boot_part 2$/m, 'nonsense falls back to slot A');
  t.regex(part, /^ {2}setenv fs_save 1$/m);
  t.regex(s, /setenv fs_part_hex 2\nif itest\.s "x\$\{mender_boot_part\}" == "x3"; then setenv fs_part_hex 3; fi\nif itest\.s "x\$\{mender_boot_part_hex\}" != "x\$\{fs_part_hex\}"; then setenv mender_boot_part_hex \$\{fs_part_hex\}; setenv fs_save 1; fi/);
  t.regex(s, /if itest\.s "x\$\{bootcount\}" == "x"; then setenv bootcount 0; setenv fs_save 1; fi/);
  t.regex(s, /if itest\.s "x\$\{upgrade_available\}" == "x"; then setenv upgrade_available 0; setenv fs_save 1; fi/);
  t.regex(s, /if itest\.s "x\$\{bootlimit\}" == "x"; then setenv bootlimit 1; setenv fs_save 1; fi/);
});

test('an env from before the Mender names: boot_part is carried over once, then dropped', async (t) => {
  const b = await board();
  const s = renderBootScript(b, computeLayout(b));
  const part = block(s, /^if itest\.s "x\$\{mender_boot_part\}" != "x2"/);
  t.regex(part, /if itest\.s "x\$\{boot_part\}" == "x2" \|\| itest\.s "x\$\{boot_part\}" == "x3"; then\n.*migrating.*\n {4}setenv mender_boot_part \$\{boot_part\}\n {2}else/);
  // Only when mender_boot_part is unusable: a valid mender_boot_part always wins over boot_part.
  t.is(s.match(/setenv mender_boot_part \$\{boot_part\}/g)?.length, 1);
  const afterMigration = s.slice(s.indexOf(part) + part.length);
  t.regex(afterMigration, /^setenv boot_part$/m);
});

test('a trial boot counts; past bootlimit altbootcmd swaps mender_boot_part and its hex, clears upgrade_available, keeps bootcount', async (t) => {
  const b = await board();
  const s = renderBootScript(b, computeLayout(b));
  const trial = block(s, /^if itest\.s "x\$\{upgrade_available\}" == "x1"; then$/);
  t.regex(trial, /^ {2}setenv fs_save 1$/m, 'the count is saved');
  t.regex(trial, /^ {2}setenv bootcount \$\{fs_next\}$/m);
  const alt = block(trial, /^ {2}if itest \$\{bootcount\} -gt \$\{bootlimit\}; then$/);
  t.regex(alt, /rolling back \(altbootcmd\)/);
  t.regex(alt, /if itest\.s "x\$\{mender_boot_part\}" == "x2"; then\n {6}setenv mender_boot_part 3\n {6}setenv mender_boot_part_hex 3\n {4}else\n {6}setenv mender_boot_part 2\n {6}setenv mender_boot_part_hex 2\n {4}fi/);
  t.regex(alt, /^ {4}setenv upgrade_available 0$/m);
  t.notRegex(alt, /setenv bootcount/, 'mender_altbootcmd leaves bootcount as counted');
  // Nothing else touches bootcount outside the trial block but the empty-value default.
  t.is(s.replace(trial, '').match(/setenv bootcount\b/g)?.length, 2);
});

test('the canary: the first boot sets mender_saveenv_canary=1 and saves, as mender_setup does', async (t) => {
  const b = await board();
  const s = renderBootScript(b, computeLayout(b));
  t.regex(s, /if itest\.s "x\$\{mender_saveenv_canary\}" != "x1"; then setenv mender_saveenv_canary 1; setenv fs_save 1; fi/);
  // Set before the save block, so the same write carries it.
  t.true(s.indexOf('setenv mender_saveenv_canary 1') < s.indexOf('if itest ${fs_save} == 1; then'));
});

test('mender_setup and mender_try_to_recover: root= from mender_boot_part, load from the hex, reset only on a trial boot', async (t) => {
  const b = await board();
  const s = renderBootScript(b, computeLayout(b));
  t.regex(s, /setenv mender_kernel_root \/dev\/vda2\nif itest\.s "x\$\{mender_boot_part\}" == "x3"; then setenv mender_kernel_root \/dev\/vda3; fi/);
  t.regex(s, /if load virtio 0:\$\{mender_boot_part_hex\} \$\{kernel_addr_r\} \/boot\/vmlinuz; then\n {2}if load virtio 0:\$\{mender_boot_part_hex\} \$\{ramdisk_addr_r\} \/boot\/initrd\.img; then/);
  const tail = s.slice(s.lastIndexOf('# mender_try_to_recover'));
  t.regex(tail, /^if itest\.s "x\$\{upgrade_available\}" == "x1"; then\n {2}echo "flipside: boot failed, resetting \(mender_try_to_recover\)"\n {2}reset\nfi\necho "flipside: boot failed and no upgrade is pending/m);
  t.is(s.match(/^\s*reset$/gm)?.length, 1, 'no unconditional reset');
});

test('partition numbers above 9: mender_boot_part is decimal (root=), mender_boot_part_hex is hex (load)', async (t) => {
  const b = await board((x) => {
    x.disk.rootfsA.number = 10;
    x.disk.rootfsA.device = '/dev/vda10';
    x.disk.rootfsB.number = 11;
    x.disk.rootfsB.device = '/dev/vda11';
  });
  const s = renderBootScript(b, computeLayout(b));
  t.regex(s, /itest\.s "x\$\{mender_boot_part\}" != "x10" && itest\.s "x\$\{mender_boot_part\}" != "x11"/);
  t.regex(s, /setenv fs_part_hex a\nif itest\.s "x\$\{mender_boot_part\}" == "x11"; then setenv fs_part_hex b; fi/);
  t.regex(s, /setenv mender_boot_part 11\n {6}setenv mender_boot_part_hex b\n/);
  t.regex(s, /if itest\.s "x\$\{mender_boot_part\}" == "x11"; then setenv mender_kernel_root \/dev\/vda11; fi/);
});
