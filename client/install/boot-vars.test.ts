// The names the rootfs installer writes, end to end on a redundant U-Boot env image read through
// fw_env.config as on a device: Mender's on a Mender env, boot_part on an env from an older
// Flipside image, and Mender's saveenv canary enforced before anything is written.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ArtifactHeaders, PayloadEntry } from '../../artifact/types.js';
import { UBootEnv } from '../../bootenv/uboot-env.js';
import { encodeBlob, fromEnvVars } from '../../bootenv/uboot-env-format.js';
import type { EnvVars } from '../../bootenv/types.js';
import { ClientError } from '../errors.js';
import { bootVarsFor, resolveBootVars, saveenvCanaryProblem, type ConfiguredBootVars } from './boot-vars.js';
import { RootfsInstaller } from './rootfs.js';
import type { Slot } from './active-partition.js';

const DEFAULTS: ConfiguredBootVars = { UpgradeAvailable: 'upgrade_available', BootCount: 'bootcount', ValueA: '2', ValueB: '3' };
const MENDER_ENV: EnvVars = { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '0', bootcount: '0', bootlimit: '1', mender_check_saveenv_canary: '1', mender_saveenv_canary: '1' };
const LEGACY_ENV: EnvVars = { boot_part: '2', upgrade_available: '0', bootcount: '0', bootlimit: '1' };

test("resolveBootVars: Mender's pair by default, boot_part alone on a legacy env, a configured name as is", (t) => {
  const mender = { BootPart: 'mender_boot_part', BootPartHex: 'mender_boot_part_hex', UpgradeAvailable: 'upgrade_available', BootCount: 'bootcount', ValueA: '2', ValueB: '3' };
  t.deepEqual(resolveBootVars(DEFAULTS, MENDER_ENV), mender);
  t.deepEqual(resolveBootVars(DEFAULTS, {}), mender, 'an empty env (fresh board) gets Mender names');
  const legacy = resolveBootVars(DEFAULTS, LEGACY_ENV);
  t.is(legacy.BootPart, 'boot_part');
  t.false('BootPartHex' in legacy, 'the old script has no hex variable');
  t.deepEqual(resolveBootVars(DEFAULTS, { ...LEGACY_ENV, mender_boot_part: '3' }).BootPart, 'mender_boot_part', 'both present: Mender wins');
  t.deepEqual(resolveBootVars({ ...DEFAULTS, BootPart: 'slot', ValueA: 'a', ValueB: 'b' }, LEGACY_ENV), { ...DEFAULTS, BootPart: 'slot', ValueA: 'a', ValueB: 'b' });
  t.is(resolveBootVars({ ...DEFAULTS, BootPart: 'boot_part', BootPartHex: 'hex' }, MENDER_ENV).BootPartHex, 'hex');
  t.is(resolveBootVars({ ...DEFAULTS, BootPartHex: 'my_hex' }, MENDER_ENV).BootPartHex, 'my_hex');
});

test("saveenvCanaryProblem: Mender's rule (only with the check on; the canary must be exactly 1)", (t) => {
  t.is(saveenvCanaryProblem({}), null);
  t.is(saveenvCanaryProblem({ mender_check_saveenv_canary: '0' }), null);
  t.is(saveenvCanaryProblem({ mender_check_saveenv_canary: '1', mender_saveenv_canary: '1' }), null);
  t.regex(saveenvCanaryProblem({ mender_check_saveenv_canary: '1' })!, /mender_saveenv_canary=\(unset\): the bootloader has not saved to this env/);
  t.regex(saveenvCanaryProblem({ mender_check_saveenv_canary: '1', mender_saveenv_canary: '0' })!, /mender_saveenv_canary=0/);
});

const SIZE = 0x4000;
const OFFSETS = [0x0, 0x4000] as const;

interface Rig {
  env: UBootEnv;
  /** The file holding both env copies. */
  img: string;
  installer: RootfsInstaller;
  partB: string;
  log: string[];
  setActive: (s: Slot) => void;
}

async function rig(t: { teardown: (f: () => Promise<void>) => void }, initial: EnvVars, configured: ConfiguredBootVars = DEFAULTS): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'flipside-bootvars-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const img = join(dir, 'env.img');
  // Both copies as mkenvimage -r writes them (flag 1), at the offsets fw_env.config names.
  const blob = encodeBlob(fromEnvVars(initial), SIZE, true, 1);
  await writeFile(img, Buffer.concat([blob, blob]));
  const cfg = join(dir, 'fw_env.config');
  await writeFile(cfg, OFFSETS.map((o) => `${img} 0x${o.toString(16)} 0x${SIZE.toString(16)}`).join('\n') + '\n');
  const env = await UBootEnv.fromConfigFile(cfg);
  const partA = join(dir, 'a.img');
  const partB = join(dir, 'b.img');
  await writeFile(partA, Buffer.alloc(1 << 16, 1));
  await writeFile(partB, Buffer.alloc(1 << 16, 0));
  let active: Slot = 'A';
  const log: string[] = [];
  const vars = await bootVarsFor(configured, env, (l) => log.push(l));
  const installer = new RootfsInstaller({
    partA,
    partB,
    env,
    vars,
    activeSlot: async () => active,
    ctx: { headers: {} as ArtifactHeaders, workDir: join(dir, 'work'), current: { artifactName: 'v1', deviceType: 'qemu-aarch64' }, log: (l) => log.push(l) },
  });
  return { env, img, installer, partB, log, setActive: (s) => (active = s) };
}

const payload = Buffer.alloc(20_000, 9);
const entry: PayloadEntry = { payloadIndex: 0, name: 'rootfs.img', size: payload.length, modified: new Date(0), checksum: createHash('sha256').update(payload).digest('hex') };

async function installAndCommit(r: Rig): Promise<EnvVars> {
  await r.installer.storeFile(entry, Readable.from([payload]));
  await r.installer.downloadDone();
  await r.installer.install();
  const flipped = await r.env.read();
  r.setActive('B');
  await r.installer.verifyReboot();
  await r.installer.commit();
  return flipped;
}

test("on a Mender env the installer flips mender_boot_part and mender_boot_part_hex together, and commits", async (t) => {
  const r = await rig(t, MENDER_ENV);
  const flipped = await installAndCommit(r);
  t.like(flipped, { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '1', bootcount: '0' });
  t.false('boot_part' in flipped);
  t.like(await r.env.read(), { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '0', bootlimit: '1', mender_saveenv_canary: '1' });
  t.deepEqual(r.log.filter((l) => /boot_part \(a boot script/.test(l)), []);
});

test('on an env from an older Flipside image the installer keeps writing boot_part, and says so', async (t) => {
  const r = await rig(t, LEGACY_ENV);
  const flipped = await installAndCommit(r);
  t.like(flipped, { boot_part: '3', upgrade_available: '1', bootcount: '0' });
  t.false('mender_boot_part' in flipped, 'the old boot.scr would never read it');
  t.false('mender_boot_part_hex' in flipped);
  t.like(await r.env.read(), { boot_part: '3', upgrade_available: '0' });
  t.true(r.log.some((l) => /keeps the slot in boot_part .*the update flips boot_part/.test(l)));
});

test('a rollback restores both Mender variables', async (t) => {
  const r = await rig(t, MENDER_ENV);
  await r.installer.storeFile(entry, Readable.from([payload]));
  await r.installer.downloadDone();
  await r.installer.install();
  await r.installer.rollback();
  t.like(await r.env.read(), { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '0' });
});

test('a rollback after a cut that tore the flip rewrites the torn env copy (the old one named the original slot already)', async (t) => {
  const r = await rig(t, MENDER_ENV);
  await r.installer.storeFile(entry, Readable.from([payload]));
  await r.installer.downloadDone();
  await r.installer.install();
  // Both copies started with flag 1, so copy 1 was current and the flip went to copy 2: tear
  // its first 512-byte sector (CRC, flag and the variables), half written.
  const img = await readFile(r.img);
  img.fill(0xff, OFFSETS[1], OFFSETS[1] + 256);
  await writeFile(r.img, img);
  t.false(await r.env.intact());
  t.like(await r.env.read(), { mender_boot_part: '2', upgrade_available: '0' }, 'copy 1, untouched, is current');
  await r.installer.rollback();
  t.true(await r.env.intact(), 'both copies CRC-valid again');
  t.like(await r.env.read(), { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '0', bootcount: '0' });
  t.true(r.log.some((l) => /a torn copy rewritten/.test(l)));
});

test('canary check on and no canary: refused before a byte or an env write lands', async (t) => {
  const noCanary = { ...MENDER_ENV };
  delete noCanary.mender_saveenv_canary;
  const r = await rig(t, noCanary);
  const before = await r.env.read();
  const e = await t.throwsAsync(r.installer.storeFile(entry, Readable.from([payload])), { instanceOf: ClientError });
  t.is(e!.code, 'BOOT_ENV');
  t.regex(e!.message, /mender_check_saveenv_canary=1 but mender_saveenv_canary=\(unset\).*nothing was written/);
  t.deepEqual(await r.env.read(), before);
  t.deepEqual(await readFile(r.partB), Buffer.alloc(1 << 16, 0));
});

test('an unreadable env: Mender names meanwhile (the installer reports the env error where it reads it)', async (t) => {
  const broken = { describe: 'broken env', read: () => Promise.reject(new Error('no valid copy')), write: () => Promise.reject(new Error('no')) };
  const vars = await bootVarsFor(DEFAULTS, broken, () => undefined);
  t.is(vars.BootPart, 'mender_boot_part');
  t.is(vars.BootPartHex, 'mender_boot_part_hex');
});
