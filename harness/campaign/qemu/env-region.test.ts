// The env a crash image holds: both copies' CRCs and the current copy's variables, from a raw image
// and through qemu-img from a qcow2 overlay; and what it lets the campaign expect.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBlob, fromEnvVars } from '../../../bootenv/uboot-env-format.js';
import { expectedFromEnv } from './check-image.js';
import { envOfImage, envOfRawImage } from './env-region.js';

const layout = { offsets: [0x4000, 0x8000] as [number, number], size: 0x4000 };

function image(copy0: Record<string, string>, copy1: Record<string, string>, tear = false): Buffer {
  const disk = Buffer.alloc(0x10000);
  encodeBlob(fromEnvVars(copy0), layout.size, true, 1).copy(disk, layout.offsets[0]);
  const b = encodeBlob(fromEnvVars(copy1), layout.size, true, 2);
  if (tear) b.fill(0, 512, 1024); // a torn second copy: its CRC no longer matches
  b.copy(disk, layout.offsets[1]);
  return disk;
}

test('both copies valid: the higher flag is current; a torn copy is invalid and the other one is used', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'env-region-'));
  const f = join(d, 'disk.img');
  writeFileSync(f, image({ mender_boot_part: '2', upgrade_available: '0' }, { mender_boot_part: '3', upgrade_available: '1', filler: 'x'.repeat(900) }));
  const e = envOfRawImage(f, layout);
  t.deepEqual(e.valid, [true, true]);
  t.is(e.current, 1);
  t.is(e.vars?.mender_boot_part, '3');
  writeFileSync(f, image({ mender_boot_part: '2', upgrade_available: '0' }, { mender_boot_part: '3', upgrade_available: '1', filler: 'x'.repeat(900) }, true));
  const torn = envOfRawImage(f, layout);
  t.deepEqual(torn.valid, [true, false]);
  t.is(torn.vars?.mender_boot_part, '2');
  rmSync(d, { recursive: true });
});

test('the expectation: only an env that commits the new slot rules the old version out', (t) => {
  const seen = (vars: Record<string, string> | null) => ({ valid: [true, true] as [boolean, boolean], current: 0 as const, vars });
  t.is(expectedFromEnv(seen({ mender_boot_part: '3', upgrade_available: '0' }), '3').want, 'new');
  t.is(expectedFromEnv(seen({ mender_boot_part: '3', upgrade_available: '1' }), '3').want, null);
  t.is(expectedFromEnv(seen({ mender_boot_part: '2', upgrade_available: '0' }), '3').want, null);
  t.is(expectedFromEnv(seen(null), '3').want, null);
});

test('through qemu-img: the env of a qcow2 overlay is the bytes the VM wrote over its base', async (t) => {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
  } catch {
    return t.pass('qemu-img is not installed');
  }
  const d = mkdtempSync(join(tmpdir(), 'env-region-'));
  const base = join(d, 'base.img');
  writeFileSync(base, image({ mender_boot_part: '2', upgrade_available: '0' }, { mender_boot_part: '2', upgrade_available: '0' }));
  const overlay = join(d, 'o.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, overlay]);
  const next = encodeBlob(fromEnvVars({ mender_boot_part: '3', upgrade_available: '0' }), layout.size, true, 3);
  const src = join(d, 'copy.bin');
  writeFileSync(src, next);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -s ${src} ${layout.offsets[0]} ${layout.size}`, overlay], { stdio: 'ignore' });
  const e = await envOfImage(overlay, 'qcow2', layout, join(d, 'tmp.bin'));
  t.deepEqual(e.valid, [true, true]);
  t.is(e.current, 0);
  t.is(e.vars?.mender_boot_part, '3');
  rmSync(d, { recursive: true });
});
