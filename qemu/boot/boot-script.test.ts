import test from 'ava';
import { readFileSync } from 'node:fs';
import { ubootOf, type BoardFile } from '../../boards/schema.js';
import { loadBoardFile } from '../../boards/load.js';
import { computeLayout } from '../image/layout.js';
import { BOOT_CMD_TEMPLATE, renderBootScript, scratchMap } from './boot-script.js';

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
  t.regex(s, /env import -c 0x50008000 0x3fff boot_part upgrade_available bootcount bootlimit/);
  t.regex(s, /booti \$\{kernel_addr_r\} \$\{ramdisk_addr_r\}:\$\{filesize\} \$\{fdt_addr\}/);
  t.regex(s, /console=ttyAMA0,115200 root=\$\{fs_root\}/);
  t.regex(s, /setenv fs_root \/dev\/vda2\nif itest.s "x\$\{boot_part\}" == "x3"; then setenv fs_root \/dev\/vda3; fi/);
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
