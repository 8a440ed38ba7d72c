import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFwEnvConfig, readFwEnvConfig } from './fw-env-config.js';
import { EnvError } from './types.js';

test('single copy with comments, hex and decimal offsets', (t) => {
  const cfg = parseFwEnvConfig('# device offset size\n\n/dev/vda 0x400000 0x4000\n', '/etc/fw_env.config');
  t.false(cfg.redundant);
  t.deepEqual(cfg.copies, [{ device: '/dev/vda', offset: 0x400000, size: 0x4000, line: 3 }]);
  t.deepEqual(cfg.warnings, []);
  t.is(parseFwEnvConfig('/dev/vda 4194304 4000').copies[0]!.offset, 4194304);
});

test('redundant pair with sector fields and a trailing comment', (t) => {
  const cfg = parseFwEnvConfig(
    '/dev/mmcblk0 0x800000 0x4000 0x4000 1 # first\r\n  # indented comment\n/dev/mmcblk0 0x1000000 4000 4000\n',
  );
  t.true(cfg.redundant);
  t.is(cfg.copies.length, 2);
  t.is(cfg.copies[0]!.sectorSize, 0x4000);
  t.is(cfg.copies[0]!.sectorCount, 1);
  t.is(cfg.copies[1]!.offset, 0x1000000);
  t.is(cfg.copies[1]!.size, 0x4000, 'size is hex even without 0x, as libubootenv scans it');
  t.is(cfg.copies[1]!.line, 3);
});

test('decimal-looking sizes and octal offsets parse like libubootenv but warn', (t) => {
  const cfg = parseFwEnvConfig('img 010 1024\n', 'x.config');
  t.is(cfg.copies[0]!.offset, 8);
  t.is(cfg.copies[0]!.size, 0x1024);
  t.is(cfg.warnings.length, 2);
  t.regex(cfg.warnings[0]!, /x\.config:1: offset "010".*octal \(0x8\)/);
  t.regex(cfg.warnings[1]!, /x\.config:1: env size "1024" is read as hex 0x1024.*write 0x400/);
});

test('negative offsets are kept for resolution against the device size', (t) => {
  t.is(parseFwEnvConfig('img -0x4000 0x2000').copies[0]!.offset, -0x4000);
});

const bad: Array<[string, RegExp]> = [
  ['', /no env location/],
  ['# only a comment\n', /no env location/],
  ['/dev/vda 0x400000\n', /c:1: expected "<device> <offset> <env size>/],
  ['\n/dev/vda zz 0x4000\n', /c:2: offset "zz" is not a number/],
  ['/dev/vda 0x0 0x4g00\n', /c:1: env size "0x4g00" is not a hex number/],
  ['/dev/vda 0 0\n', /c:1: env size is zero/],
  ['/dev/vda 0 4000 zz\n', /sector size "zz"/],
  ['/dev/vda 0 4000\n/dev/vda 0x4000 0x2000\n', /c:2: env size 0x2000 differs from 0x4000 on line 1/],
  ['/dev/vda 0 4000\n/dev/vda 0x2000 0x4000\n', /c:2: this copy \(0x2000\+0x4000\) overlaps the copy on line 1/],
  ['a 0 4000\nb 0 4000\nc 0 4000\n', /c:3: a third env location/],
  ['/dev/mtd0 0 4000\n', /MTD\/UBI/],
  ['uboot:\n  size: 0x4000\n', /c:1: looks like the YAML config format/],
  ['a 0 4000 1 1 0 9\n', /c:1: too many fields/],
];
for (const [text, re] of bad) {
  test(`rejects ${JSON.stringify(text)}`, (t) => {
    const err = t.throws(() => parseFwEnvConfig(text, 'c'), { instanceOf: EnvError });
    t.is(err!.code, 'CONFIG');
    t.regex(err!.message, re);
  });
}

test('readFwEnvConfig names the file, also when it is missing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fwcfg-'));
  try {
    const path = join(dir, 'fw_env.config');
    await writeFile(path, 'disk.img 0x400000 0x4000\n');
    const cfg = await readFwEnvConfig(path);
    t.is(cfg.path, path);
    t.is(cfg.copies[0]!.device, 'disk.img');
    const err = await t.throwsAsync(readFwEnvConfig(join(dir, 'missing')), { instanceOf: EnvError });
    t.is(err!.code, 'CONFIG');
    t.true(err!.message.includes(join(dir, 'missing')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
