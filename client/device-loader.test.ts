// The device bundle's start-up loader: the V8 code cache is made, reused, and a rejected, corrupt
// or truncated one only costs a compile from source (the output stays right) and is rewritten.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { composeDeviceBundle } from './build-device.js';
import { cacheDir, cacheFileName, checksum, decodeCache, encodeCache } from './device-loader.js';

const run = promisify(execFile);

test('checksum: any change to one word changes it; the file format round-trips', (t) => {
  const data = Buffer.from(Array.from({ length: 1027 }, (_, i) => (i * 7) & 0xff));
  const sum = checksum(data);
  for (const at of [0, 3, 4, 512, 1023, 1024, 1026]) {
    const d = Buffer.from(data);
    d[at] ^= 0x10;
    t.not(checksum(d), sum, `byte ${at}`);
  }
  // A view at an odd offset hashes the same bytes the same way.
  const odd = Buffer.alloc(data.length + 1);
  data.copy(odd, 1);
  t.is(checksum(odd.subarray(1)), sum);
  const file = encodeCache(data);
  t.deepEqual(decodeCache(file), data);
  const flipped = Buffer.from(file);
  flipped[file.length - 100] ^= 1;
  t.is(decodeCache(flipped), null, 'corrupt payload');
  t.is(decodeCache(file.subarray(0, file.length - 1)), null, 'truncated');
  t.is(decodeCache(Buffer.alloc(0)), null, 'empty (a power cut before the data reached the disk)');
  t.is(decodeCache(Buffer.concat([Buffer.from('XXXXXXXX'), file.subarray(8)])), null, 'not a cache file');
});

test('cache file names and folder', (t) => {
  const node = { version: 'v18.20.4', arch: 'arm64' };
  t.is(cacheFileName('abc', { ...node, flags: '' }), 'flipside-abc-v18.20.4-arm64.vmcache');
  t.not(cacheFileName('abc', { ...node, flags: '--cpu-prof' }), cacheFileName('abc', { ...node, flags: '--max-old-space-size=64' }));
  t.is(cacheDir({ FLIPSIDE_CODE_CACHE_DIR: '' }), null, 'empty turns it off');
  t.is(cacheDir({ FLIPSIDE_CODE_CACHE_DIR: '/x/y' }), '/x/y');
  t.is(cacheDir({}, '/nonexistent/flipside-state'), null, 'no state folder: a development machine');
  t.is(cacheDir({}, tmpdir()), join(tmpdir(), 'code-cache'));
});

/** A small bundle through the real composition: prints its argv and the module scope it got. */
async function composed(dir: string, marker: string): Promise<string> {
  const file = join(dir, `${marker}.cjs`);
  const body = `"use strict";\nconst { join } = require("node:path");\nconsole.log(JSON.stringify({ marker: ${JSON.stringify(marker)}, args: process.argv.slice(2), file: __filename === join(__dirname, ${JSON.stringify(`${marker}.cjs`)}), self: module.exports === exports }));\n`;
  await writeFile(file, await composeDeviceBundle(`#!/usr/bin/env node\n${body}`));
  return file;
}

async function start(file: string, cache: string, ...args: string[]): Promise<{ status: string; out: unknown }> {
  const r = await run(process.execPath, [file, ...args], { env: { ...process.env, FLIPSIDE_CODE_CACHE_DIR: cache, FLIPSIDE_CODE_CACHE_DEBUG: '1' } });
  const status = /flipside: code cache (\w+)/.exec(r.stderr)?.[1] ?? `no status in ${r.stderr}`;
  return { status, out: JSON.parse(r.stdout) };
}

test('loader: cache made on the first run, reused, corrupt or stale ones fall back and are rewritten', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flipside-loader-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cache = join(dir, 'cache');
  const a = await composed(dir, 'a');
  const expected = { marker: 'a', args: ['x', 'y'], file: true, self: true };

  const first = await start(a, cache, 'x', 'y');
  t.deepEqual(first, { status: 'miss', out: expected });
  const [name, ...more] = await readdir(cache);
  t.deepEqual(more, [], 'one file, no temp file left');
  t.regex(name!, new RegExp(`^flipside-[0-9a-f]{16}-${process.version}-${process.arch}\\.vmcache$`));
  const good = await readFile(join(cache, name!));
  t.deepEqual(await start(a, cache, 'x', 'y'), { status: 'hit', out: expected });

  // Corrupt: a flipped byte in V8's data (release V8 checks no checksum of its own).
  const bad = Buffer.from(good);
  bad[bad.length - 10] ^= 0xff;
  await writeFile(join(cache, name!), bad);
  t.deepEqual(await start(a, cache, 'x', 'y'), { status: 'corrupt', out: expected });
  const rewritten = await readFile(join(cache, name!));
  t.not(decodeCache(rewritten), null, 'rewritten whole');
  t.notDeepEqual(rewritten, bad);
  // Truncated.
  await writeFile(join(cache, name!), good.subarray(0, good.length >> 1));
  t.deepEqual(await start(a, cache, 'x', 'y'), { status: 'corrupt', out: expected });
  t.deepEqual(await start(a, cache, 'x', 'y'), { status: 'hit', out: expected });

  // Stale: a well-formed cache of another source under this bundle's name; V8 rejects it.
  const b = await composed(dir, 'bb');
  const other = join(dir, 'other');
  t.is((await start(b, other)).status, 'miss');
  await writeFile(join(cache, name!), await readFile(join(other, (await readdir(other))[0]!)));
  t.deepEqual(await start(a, cache, 'x', 'y'), { status: 'rejected', out: expected });
  t.deepEqual(await start(a, cache, 'x', 'y'), { status: 'hit', out: expected });

  // Another bundle (an update) replaces the cache of the old one; a power cut's temp file goes too.
  await writeFile(join(cache, `${name!}.tmp-99999`), 'half');
  t.is((await start(b, cache)).status, 'miss');
  t.is((await readdir(cache)).length, 1);

  // A folder that cannot be made: the client still runs.
  await writeFile(join(dir, 'file'), '');
  t.deepEqual(await start(a, join(dir, 'file', 'cache'), 'x', 'y'), { status: 'miss', out: expected });
  t.deepEqual(await start(a, '', 'x', 'y'), { status: 'off', out: expected });
});
