// Cross-checks against Debian's libubootenv tools (fw_printenv/fw_setenv) and mkenvimage on
// image files, in both directions, single and redundant. libubootenv 0.3.2 also flocks
// /var/lock/fw_printenv.lock; when that is not writable (non-root CI) it carries on without the
// lock, so the tools work on temp images either way.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { UBootEnv } from './uboot-env.js';
import { parseFwEnvConfig } from './fw-env-config.js';
import { encodeBlob, fromEnvVars } from './uboot-env-format.js';
import { writeAtDurably } from './device-io.js';
import { EnvError, type EnvVars } from './types.js';

const hasTools = ['fw_printenv', 'fw_setenv', 'mkenvimage'].every((t) => spawnSync('which', [t]).status === 0);
const tool = hasTools ? test : test.skip;

const SIZE = 0x2000;
const OFF1 = 0x4000;
const OFF2 = 0x8000;

interface Rig {
  dir: string;
  img: string;
  cfg: string;
  env: UBootEnv;
}

async function rig(redundant: boolean, initial: EnvVars | null, fn: (r: Rig) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ubootenv-'));
  try {
    const img = join(dir, 'disk.img');
    await writeFile(img, Buffer.alloc(0x10000, 0x00));
    const cfg = join(dir, 'fw_env.config');
    await writeFile(cfg, `# test env\n${img} ${'0x' + OFF1.toString(16)} 0x${SIZE.toString(16)}\n` + (redundant ? `${img} 0x${OFF2.toString(16)} 0x${SIZE.toString(16)}\n` : ''));
    if (initial) {
      const txt = join(dir, 'initial.txt');
      await writeFile(txt, Object.entries(initial).map(([k, v]) => `${k}=${v}\n`).join(''));
      const blob = join(dir, 'env.bin');
      execFileSync('mkenvimage', [...(redundant ? ['-r'] : []), '-s', `0x${SIZE.toString(16)}`, '-o', blob, txt]);
      const bytes = await readFile(blob);
      await writeAtDurably(img, OFF1, bytes);
      if (redundant) await writeAtDurably(img, OFF2, bytes);
    }
    await fn({ dir, img, cfg, env: await UBootEnv.fromConfigFile(cfg) });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function fwPrintenv(cfg: string): EnvVars {
  const out = execFileSync('fw_printenv', ['-c', cfg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const vars: EnvVars = {};
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    vars[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return vars;
}

function fwSetenv(r: Rig, vars: Record<string, string | null>): void {
  for (const [k, v] of Object.entries(vars)) {
    execFileSync('fw_setenv', ['-c', r.cfg, k, ...(v === null ? [] : [v])], { stdio: 'pipe' });
  }
}

const sha = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');

for (const redundant of [false, true]) {
  const kind = redundant ? 'redundant' : 'single';

  tool(`${kind}: reads what mkenvimage and fw_setenv wrote`, (t) =>
    rig(redundant, { bootcount: '0', boot_part: '2', bootlimit: '3' }, async (r) => {
      t.deepEqual(await r.env.read(), { bootcount: '0', boot_part: '2', bootlimit: '3' });
      fwSetenv(r, { upgrade_available: '1', bootcount: null, args: 'root=/dev/vda2 rw', empty: '' });
      const expected = { boot_part: '2', bootlimit: '3', upgrade_available: '1', args: 'root=/dev/vda2 rw', empty: '' };
      t.deepEqual(await r.env.read(), expected);
      t.deepEqual(fwPrintenv(r.cfg), expected);
    }));

  tool(`${kind}: fw_printenv reads what we wrote, several changes in one write`, (t) =>
    rig(redundant, { bootcount: '0', boot_part: '2', drop_me: 'x' }, async (r) => {
      await r.env.write({ boot_part: '3', upgrade_available: '1', drop_me: null, bootargs: 'a=b c=d', blank: '' });
      const expected = { bootcount: '0', boot_part: '3', upgrade_available: '1', bootargs: 'a=b c=d', blank: '' };
      t.deepEqual(fwPrintenv(r.cfg), expected);
      t.deepEqual(await r.env.read(), expected);
      // Alternate writers several times: each must see the other's latest copy (flag handling).
      for (let i = 0; i < 4; i++) {
        fwSetenv(r, { bootcount: String(i) });
        t.is((await r.env.read()).bootcount, String(i));
        await r.env.write({ bootcount: String(i + 10) });
        t.is(fwPrintenv(r.cfg).bootcount, String(i + 10));
      }
    }));

  tool(`${kind}: data area is byte-identical to fw_setenv's up to the terminator`, (t) =>
    rig(redundant, { z: '1', a: '2' }, async (r) => {
      fwSetenv(r, { m: 'x=y', a: null });
      const state = await r.env.inspect();
      const cur = state.copies[state.current!]!;
      const theirs = await readFile(r.img);
      const hdr = redundant ? 5 : 4;
      const theirData = theirs.subarray(cur.offset + hdr, cur.offset + SIZE);
      const used = theirData.indexOf(Buffer.from([0, 0])) + 2;
      await r.env.write({ m: 'x=y' }); // same content, written by us
      const s2 = await r.env.inspect();
      const ours = await readFile(r.img);
      const ourData = ours.subarray(s2.copies[s2.current!]!.offset + hdr);
      t.deepEqual(ourData.subarray(0, used), theirData.subarray(0, used));
      t.is(theirData.subarray(0, used).toString('latin1'), 'm=x=y\0z=1\0\0');
    }));

  tool(`${kind}: a full env is TOO_LARGE and nothing is written`, (t) =>
    rig(redundant, { a: '1' }, async (r) => {
      const before = await sha(r.img);
      const err = await t.throwsAsync(r.env.write({ b: '2', big: 'x'.repeat(SIZE) }), { instanceOf: EnvError });
      t.is(err!.code, 'TOO_LARGE');
      t.is(await sha(r.img), before);
      t.deepEqual(fwPrintenv(r.cfg), { a: '1' });
    }));

  tool(`${kind}: bad names are refused before anything is written`, (t) =>
    rig(redundant, { a: '1' }, async (r) => {
      const before = await sha(r.img);
      const err = await t.throwsAsync(r.env.write({ ok: '1', 'bad=name': '2' }), { instanceOf: EnvError });
      t.is(err!.code, 'BAD_VARIABLE');
      t.is(await sha(r.img), before);
    }));

  tool(`${kind}: a blank location is LOCATION_MISMATCH naming the config and the offsets`, (t) =>
    rig(redundant, null, async (r) => {
      const err = await t.throwsAsync(r.env.read(), { instanceOf: EnvError });
      t.is(err!.code, 'LOCATION_MISMATCH');
      t.true(err!.message.includes(r.cfg));
      t.true(err!.message.includes('offset 0x4000 size 0x2000'));
      if (redundant) t.true(err!.message.includes('offset 0x8000'));
      t.regex(err!.message, /blank/);
      const write = await t.throwsAsync(r.env.write({ a: '1' }), { instanceOf: EnvError });
      t.is(write!.code, 'LOCATION_MISMATCH');
    }));
}

tool('a config with the wrong env size is reported with the size that would work', (t) =>
  rig(false, { a: '1' }, async (r) => {
    const wrong = new UBootEnv(parseFwEnvConfig(`${r.img} 0x4000 0x1000\n`, 'wrong.config'));
    const err = await t.throwsAsync(wrong.read(), { instanceOf: EnvError });
    t.is(err!.code, 'LOCATION_MISMATCH');
    t.regex(err!.message, /wrong\.config.*offset 0x4000 size 0x1000.*valid single-copy \(no flags byte\) env of size 0x2000/);
  }));

tool('redundant: a corrupted current copy falls back to the other; the next write repairs it', (t) =>
  rig(true, { a: '1' }, async (r) => {
    fwSetenv(r, { a: '2' }); // copy 2 becomes current (flag 2)
    const s0 = await r.env.inspect();
    t.is(s0.current, 1);
    const img = await readFile(r.img);
    img[OFF2 + 7] ^= 0xff; // damage the current copy's data
    await writeFile(r.img, img);
    t.deepEqual(await r.env.read(), { a: '1' });
    t.deepEqual(fwPrintenv(r.cfg), { a: '1' }, 'the real tool agrees on the fallback');
    const s1 = await r.env.inspect();
    t.is(s1.current, 0);
    t.false(s1.copies[1]!.crcOk);
    t.is(s1.copies[1]!.problem?.kind, 'corrupt');
    await r.env.write({ b: '3' });
    const s2 = await r.env.inspect();
    t.true(s2.copies[0]!.crcOk && s2.copies[1]!.crcOk, 'both copies valid again');
    t.is(s2.current, 1, 'the repaired slot holds the newer env');
    t.is(s2.copies[1]!.flag, ((s2.copies[0]!.flag ?? 0) + 1) & 0xff);
    t.deepEqual(fwPrintenv(r.cfg), { a: '1', b: '3' });
  }));

tool('single: a damaged copy is NO_VALID_COPY, and fw_printenv fails on it too', (t) =>
  rig(false, { a: '1', b: '2' }, async (r) => {
    const img = await readFile(r.img);
    img[OFF1 + 9] ^= 0x01;
    await writeFile(r.img, img);
    const err = await t.throwsAsync(r.env.read(), { instanceOf: EnvError });
    t.is(err!.code, 'NO_VALID_COPY');
    t.regex(err!.message, /offset 0x4000 size 0x2000: CRC mismatch/);
    t.not(spawnSync('fw_printenv', ['-c', r.cfg]).status, 0);
  }));

tool('redundant: both copies corrupt is NO_VALID_COPY with both offsets named', (t) =>
  rig(true, { a: '1', b: '2' }, async (r) => {
    const img = await readFile(r.img);
    img[OFF1 + 6] ^= 1;
    img[OFF2 + 6] ^= 1;
    await writeFile(r.img, img);
    const err = await t.throwsAsync(r.env.read(), { instanceOf: EnvError });
    t.is(err!.code, 'NO_VALID_COPY');
    t.true(err!.message.includes(r.cfg));
    t.true(err!.message.includes('offset 0x4000') && err!.message.includes('offset 0x8000'));
    const before = await sha(r.img);
    await t.throwsAsync(r.env.write({ a: '2' }), { instanceOf: EnvError });
    t.is(await sha(r.img), before);
  }));

tool('redundant: the flag wraps from 0xff to 0 and both we and fw_printenv follow it', (t) =>
  rig(true, null, async (r) => {
    await writeAtDurably(r.img, OFF1, encodeBlob(fromEnvVars({ v: 'old' }), SIZE, true, 0xfe));
    await writeAtDurably(r.img, OFF2, encodeBlob(fromEnvVars({ v: 'cur' }), SIZE, true, 0xff));
    t.is((await r.env.read()).v, 'cur');
    t.is(fwPrintenv(r.cfg).v, 'cur');
    await r.env.write({ v: 'wrapped' });
    const s = await r.env.inspect();
    t.is(s.current, 0);
    t.is(s.copies[0]!.flag, 0);
    t.is(fwPrintenv(r.cfg).v, 'wrapped');
    fwSetenv(r, { v: 'after' }); // fw_setenv writes copy 2 with flag 1
    t.is((await r.env.read()).v, 'after');
    t.is((await r.env.inspect()).copies[1]!.flag, 1);
  }));

tool('default env only when configured: blank storage becomes a valid env', (t) =>
  rig(true, null, async (r) => {
    const env = await UBootEnv.fromConfigFile(r.cfg, { defaultEnv: { boot_part: '2', bootcount: '0' } });
    t.deepEqual(await env.read(), { boot_part: '2', bootcount: '0' });
    await env.write({ upgrade_available: '0' });
    t.deepEqual(fwPrintenv(r.cfg), { boot_part: '2', bootcount: '0', upgrade_available: '0' });
  }));

tool('concurrent writes through one instance are serialized and none is lost', (t) =>
  rig(true, { a: '1' }, async (r) => {
    await Promise.all([0, 1, 2, 3, 4].map((i) => r.env.write({ [`v${i}`]: String(i) })));
    t.deepEqual(fwPrintenv(r.cfg), { a: '1', v0: '0', v1: '1', v2: '2', v3: '3', v4: '4' });
  }));

test('negative offsets are resolved from the end of the file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ubootenv-'));
  try {
    const img = join(dir, 'img');
    await writeFile(img, Buffer.alloc(0x10000));
    await writeAtDurably(img, 0x10000 - SIZE, encodeBlob(fromEnvVars({ tail: 'yes' }), SIZE, false, 0));
    const env = new UBootEnv(parseFwEnvConfig(`${img} -0x2000 0x2000\n`, 'neg.config'));
    t.deepEqual(await env.read(), { tail: 'yes' });
    t.regex(env.describe, /single copy.*neg\.config/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a missing device is an IO error', async (t) => {
  const env = new UBootEnv(parseFwEnvConfig('/nonexistent/flipside.img 0 0x2000\n', 'c'));
  const err = await t.throwsAsync(env.read(), { instanceOf: EnvError });
  t.is(err!.code, 'IO');
});

test('the write observer hears the write to the copy that is not current, then its fsync', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ubootenv-'));
  try {
    const img = join(dir, 'disk.img');
    await writeFile(img, Buffer.alloc(0x10000, 0x00));
    await writeAtDurably(img, OFF1, encodeBlob(fromEnvVars({ v: 'cur' }), SIZE, true, 1));
    const heard: string[] = [];
    const observer = { write: (p: string, o: number, n: number) => heard.push(`w ${o} ${n} ${p}`), sync: (p: string) => heard.push(`s ${p}`) };
    const env = new UBootEnv(parseFwEnvConfig(`${img} 0x${OFF1.toString(16)} 0x${SIZE.toString(16)}\n${img} 0x${OFF2.toString(16)} 0x${SIZE.toString(16)}\n`, 'fw_env.config'), { observer });
    await env.write({ v: 'next' });
    t.deepEqual(heard, [`w ${OFF2} ${SIZE} ${img}`, `s ${img}`]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
