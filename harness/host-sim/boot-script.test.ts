import test from 'ava';
import type { BootEnv, EnvVars } from '../../bootenv/types.js';
import { runBootScript, DEFAULT_BOOT_VARS } from './boot-script.js';

function memEnv(init: EnvVars): BootEnv & { vars: EnvVars; writes: number } {
  const e = {
    describe: 'memory',
    vars: { ...init },
    writes: 0,
    read: async () => ({ ...e.vars }),
    write: async (c: Record<string, string | null>) => {
      e.writes++;
      for (const [k, v] of Object.entries(c)) {
        if (v === null) delete e.vars[k];
        else e.vars[k] = v;
      }
    },
  };
  return e;
}

const base = { boot_part: '2', upgrade_available: '0', bootcount: '0', bootlimit: '1' };

test('no upgrade pending: boots boot_part and writes nothing', async (t) => {
  const env = memEnv(base);
  const r = await runBootScript(env, DEFAULT_BOOT_VARS, async () => true);
  t.like(r, { ok: true, slot: 'A', resets: 0 });
  t.is(env.writes, 0);
});

test('upgrade pending: the first boot counts, the second (uncommitted) swaps back', async (t) => {
  const env = memEnv({ ...base, boot_part: '3', upgrade_available: '1' });
  t.like(await runBootScript(env, DEFAULT_BOOT_VARS, async () => true), { ok: true, slot: 'B' });
  t.is(env.vars.bootcount, '1');
  t.like(await runBootScript(env, DEFAULT_BOOT_VARS, async () => true), { ok: true, slot: 'A' });
  t.like(env.vars, { boot_part: '2', upgrade_available: '0', bootcount: '0' });
});

test('a new rootfs that does not boot resets into the old one; a broken committed rootfs does not boot at all', async (t) => {
  const env = memEnv({ ...base, boot_part: '3', upgrade_available: '1' });
  const r = await runBootScript(env, DEFAULT_BOOT_VARS, async (s) => s === 'A');
  t.like(r, { ok: true, slot: 'A', resets: 1 });
  const dead = memEnv(base);
  t.like(await runBootScript(dead, DEFAULT_BOOT_VARS, async () => false), { ok: false, slot: 'A' });
  const nonsense = memEnv({ ...base, boot_part: '9' });
  t.like(await runBootScript(nonsense, DEFAULT_BOOT_VARS, async () => true), { ok: false, slot: null });
});
