import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBootEnv, GrubEnv, UBootEnv, EnvError, createGrubEnvFile } from './index.js';

test('openBootEnv picks U-Boot or GRUB from the config', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bootenv-'));
  try {
    const img = join(dir, 'env.img');
    await writeFile(img, Buffer.alloc(0x4000));
    const cfg = join(dir, 'fw_env.config');
    await writeFile(cfg, `${img} 0 0x2000\n${img} 0x2000 0x2000\n`);
    const u = await openBootEnv({ type: 'uboot', fwEnvConfig: cfg, defaultEnv: { boot_part: '2' } });
    t.true(u instanceof UBootEnv);
    await u.write({ bootcount: '0' });
    t.deepEqual(await u.read(), { boot_part: '2', bootcount: '0' });

    const g = join(dir, 'grubenv');
    await createGrubEnvFile(g);
    const genv = await openBootEnv({ type: 'grub', envFile: g });
    t.true(genv instanceof GrubEnv);
    await genv.write({ a: '1' });
    t.deepEqual(await genv.read(), { a: '1' });

    const err = await t.throwsAsync(openBootEnv({ type: 'uboot', fwEnvConfig: join(dir, 'missing.config') }), { instanceOf: EnvError });
    t.is(err!.code, 'CONFIG');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
