// The device bundle: one self-contained CommonJS file for Node 18 that runs the CLI.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDeviceBundle, bundleSourceOf, deviceBuildOptions, LAZY_BUILTINS } from './build-device.js';
import { VERSION } from './version.js';

// Node 20+/21+/22+ APIs (and syntax esbuild would pass through) that Debian's Node 18 lacks.
const NODE20_ONLY = [
  /import\.meta\.(dirname|filename)/,
  /\bglobSync\b/,
  /Array\.fromAsync/,
  /Promise\.withResolvers/,
  /(Object|Map)\.groupBy/,
  /process\.loadEnvFile/,
  /\bstyleText\b/,
  /\.(toSorted|toReversed|toSpliced)\(/,
  /\bisWellFormed\(/,
  /\bcrypto\.hash\(/,
  /node:sqlite/,
  /getBuiltinModule/,
];

test('bundle: shebang, cjs for node18, only Node builtins required, --version runs', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flipside-bundle-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = await buildDeviceBundle(join(dir, 'flipside.cjs'));
  const opts = deviceBuildOptions(out);
  t.is(opts.target, 'node18');
  t.is(opts.format, 'cjs');
  t.is(opts.platform, 'node');
  const text = await readFile(out, 'utf8');
  t.true(text.startsWith('#!/usr/bin/env node\n'));
  t.true(((await stat(out)).mode & 0o111) !== 0, 'executable');
  const { source } = bundleSourceOf(text);
  const required = new Set([...`${text}\n${source}`.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!));
  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  t.deepEqual([...required].filter((r) => !builtins.has(r)), [], 'every package is inside the bundle');
  t.true(required.has('node:vm') && required.has('node:fs'), 'the source was found and read');
  for (const re of NODE20_ONLY) t.false(re.test(source) || re.test(text), `bundle uses ${re}`);
  // The loader runs the source through vm.Script, which has no dynamic-import hook on Node 18.
  t.false(/[^.\w$]import\(/.test(source), 'a dynamic import() left in the bundle');
  // commander's child_process is loaded only for executable sub-commands (start-up cost on Node 18).
  t.false(/^\s*(var|const) childProcess = require\("node:child_process"\)/m.test(source));
  // Each built-in a Node 18 start-up snapshot cannot hold is required in one place: its lazy module.
  for (const m of LAZY_BUILTINS) t.true((source.match(new RegExp(`require\\("(node:)?${m}"\\)`, 'g'))?.length ?? 0) <= 1, `${m} required outside its lazy module`);
  // The lazy zlib keeps its non-enumerable legacy constants (ws flushes with zlib.Z_SYNC_FLUSH).
  t.regex(source, /"Z_SYNC_FLUSH"/);
  // With the code cache (a second start takes it) the output is the same.
  const env = { ...process.env, FLIPSIDE_CODE_CACHE_DIR: join(dir, 'cache'), FLIPSIDE_CODE_CACHE_DEBUG: '1' };
  for (const status of ['miss', 'hit']) {
    const r = spawnSync(process.execPath, [out, '--version'], { encoding: 'utf8', env });
    t.is(r.stdout.trim(), VERSION);
    t.regex(r.stderr, new RegExp(`code cache ${status}`));
  }
  const help = execFileSync(process.execPath, [out, '--help'], { encoding: 'utf8' });
  for (const cmd of ['install', 'commit', 'rollback', 'resume', 'show-artifact', 'show-provides']) t.regex(help, new RegExp(`\\b${cmd}\\b`));
});

test('lazy modules: zlib and @msgpack/msgpack load on first use, and work through their getters', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flipside-lazy-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // A bundle built with the device's options around the connect protocol (msgpack) and zlib.
  const entry = join(dir, 'entry.ts');
  await writeFile(
    entry,
    [
      `import zlib from 'node:zlib';`,
      `import { decodeMessage, encodeMessage } from ${JSON.stringify(join(process.cwd(), 'connect-protocol', 'protocol.ts'))};`,
      `const before = process.moduleLoadList.includes('NativeModule zlib');`,
      `const frame = encodeMessage({ hdr: { proto: 1, typ: 'ping', sid: 's1' }, body: new Uint8Array([1, 2, 3]) });`,
      `const back = decodeMessage(frame);`,
      `const inflated = zlib.inflateRawSync(zlib.deflateRawSync(Buffer.from('abc'), { flush: zlib.Z_SYNC_FLUSH })).toString();`,
      `console.log(JSON.stringify({ before, typ: back.hdr.typ, sid: back.hdr.sid, body: [...back.body], inflated, sync: zlib.Z_SYNC_FLUSH }));`,
    ].join('\n'),
  );
  const out = join(dir, 'lazy.cjs');
  await build({ ...deviceBuildOptions(out), entryPoints: [entry], banner: {} });
  const text = await readFile(out, 'utf8');
  t.regex(text, /\/\/ lazy-module:@msgpack\/msgpack/);
  const r = JSON.parse(execFileSync(process.execPath, [out], { encoding: 'utf8' })) as Record<string, unknown>;
  t.deepEqual(r, { before: false, typ: 'ping', sid: 's1', body: [1, 2, 3], inflated: 'abc', sync: 2 });
});
