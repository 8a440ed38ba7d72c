// `npm run build:device`: bundles the client into ONE file, dist/device/flipside.cjs, for devices
// that have Debian's Node 18 and nothing else (no npm install, no compiler). The QEMU image
// installs it as /usr/lib/flipside/flipside.cjs.
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULE_WRAPPER } from './device-loader.js';
import type { InjectedBug } from './injected-bug.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export const DEVICE_BUNDLE = join(root, 'dist', 'device', 'flipside.cjs');

export interface DeviceBuildOptions {
  /** A test build with one deliberate bug (client/injected-bug.ts); never shipped. */
  injectBug?: InjectedBug;
}

/**
 * ws tries the optional native add-ons bufferutil and utf-8-validate inside try/catch and uses
 * its JavaScript code when they are missing: in the bundle they are modules that throw.
 */
const absentNatives: Plugin = {
  name: 'absent-native-addons',
  setup(b) {
    b.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (a) => ({ path: a.path, namespace: 'absent-native' }));
    b.onLoad({ filter: /.*/, namespace: 'absent-native' }, (a) => ({ contents: `throw new Error(${JSON.stringify(`${a.path} is not in the device bundle`)});`, loader: 'js' }));
  },
};

/**
 * Node built-ins the bundle loads only when it uses them. Node 18's start-up snapshot builder
 * (client/snapshot.ts) aborts on child_process, http, https and tls and warns that net, readline,
 * tty and stream/web are not supported, so none of them may be loaded while the snapshot's modules
 * initialise (commander, ws and our own modules import them at the top). zlib Node 18 accepts, but
 * its module makes a zero-length ArrayBuffer at load (`kFlushBuffers`), and Node 18's V8 writes
 * such a buffer's native pointer into the snapshot: a start from it writes to that stale address at
 * its first full GC (SIGSEGV in the guest, see snapshotBuildScript). Without a snapshot the deferral
 * pays too: under Debian's Node 18 (no built-in code cache) compiling child_process and the net and
 * stream modules it pulls in was a quarter of the client's start-up CPU in the qemu-aarch64 guest,
 * for commands that never spawn anything.
 */
export const LAZY_BUILTINS = ['child_process', 'http', 'https', 'tls', 'net', 'readline', 'tty', 'stream/web', 'zlib'] as const;

/**
 * Bundled packages loaded on first use, for the same reason as zlib: @msgpack/msgpack's Decoder
 * module keeps `new DataView(new ArrayBuffer(0))` (the connect protocol, which the daemon's modules
 * import at the top).
 */
export const LAZY_PACKAGES = ['@msgpack/msgpack'] as const;

const requireHere = createRequire(import.meta.url);

/**
 * Each import of a LAZY_BUILTINS module or a LAZY_PACKAGES package becomes a module of getters, one
 * per own property of the real one (names from the Node that builds, a superset of Node 18's for
 * what the client uses; non-enumerable ones too, such as zlib's Z_* constants), that require the
 * real module on first use: `import { spawn } from 'node:child_process'`, `import zlib from
 * 'node:zlib'` and `require('https')` keep working unchanged, and destructuring one at load would
 * load it (the snapshot build then fails loudly, see client/snapshot.ts). A package's `__esModule`
 * mark is a plain value: esbuild's interop reads it at import.
 */
const lazyModules: Plugin = {
  name: 'lazy-modules',
  setup(b) {
    const alternatives = [...LAZY_BUILTINS.map((m) => `(node:)?${m.replace('/', '\\/')}`), ...LAZY_PACKAGES.map((m) => m.replace('/', '\\/'))];
    const filter = new RegExp(`^(${alternatives.join('|')})$`);
    b.onResolve({ filter }, (a) => (a.namespace === 'lazy-module' ? undefined : { path: a.path.replace(/^node:/, ''), namespace: 'lazy-module' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-module' }, (a) => {
      const builtin = (LAZY_BUILTINS as readonly string[]).includes(a.path);
      const id = builtin ? `node:${a.path}` : a.path;
      const real = requireHere(id) as Record<string, unknown>;
      const names = Object.getOwnPropertyNames(real).filter((k) => k !== 'default' && k !== '__esModule' && /^[A-Za-z_$][\w$]*$/.test(k));
      const enumerable = names.map((k) => Object.getOwnPropertyDescriptor(real, k)!.enumerable === true);
      return {
        contents: [
          `let real;`,
          `const load = () => real || (real = require(${JSON.stringify(id)}));`,
          ...(real.__esModule ? [`Object.defineProperty(exports, '__esModule', { value: true });`] : []),
          `const names = ${JSON.stringify(names)}, enumerable = ${JSON.stringify(enumerable)};`,
          `names.forEach((name, i) => Object.defineProperty(exports, name, { enumerable: enumerable[i], get: () => load()[name] }));`,
        ].join('\n'),
        loader: 'js',
        resolveDir: root,
      };
    });
  },
};

export function deviceBuildOptions(outfile: string, o: DeviceBuildOptions = {}): BuildOptions {
  return {
    define: { __FLIPSIDE_INJECTED_BUG__: o.injectBug ? JSON.stringify(o.injectBug) : 'null', __FLIPSIDE_BUNDLE__: 'true' },
    entryPoints: [join(root, 'client', 'cli.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    // Debian bookworm ships Node 18: esbuild refuses syntax newer than that instead of emitting it.
    target: 'node18',
    format: 'cjs',
    banner: { js: '#!/usr/bin/env node' },
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    // Nothing native may reach the device; optional deps of bundled packages stay out.
    external: [],
    plugins: [absentNatives, lazyModules],
  };
}

/** The last line of the device bundle is PREFIX + the bundle's source as a JSON string + SUFFIX. */
export const SOURCE_LINE = ['__flipsideLoader.runDeviceBundle({ id: ID, source: ', ' }, { require, module, filename: __filename, dirname: __dirname });'] as const;

/** The bundle's id and own source (a CommonJS function expression) from a device bundle file's text. */
export function bundleSourceOf(fileText: string): { id: string; source: string } {
  const line = fileText.trimEnd().slice(fileText.trimEnd().lastIndexOf('\n') + 1);
  const [before, after] = SOURCE_LINE[0].split('ID') as [string, string];
  const idEnd = line.indexOf(after);
  if (!line.startsWith(before) || idEnd < 0 || !line.endsWith(SOURCE_LINE[1])) throw new Error('not a device bundle: no source line at the end');
  return { id: JSON.parse(line.slice(before.length, idEnd)) as string, source: JSON.parse(line.slice(idEnd + after.length, line.length - SOURCE_LINE[1].length)) as string };
}

/**
 * One file: the start-up loader (client/device-loader.ts, with a V8 code cache on the device), then
 * the esbuild bundle as a string literal, which V8 scans as one token instead of parsing 1 MB of
 * functions; the loader compiles it (or takes it from the cache).
 */
export async function composeDeviceBundle(bundleText: string): Promise<string> {
  const loader = await build({
    entryPoints: [join(root, 'client', 'device-loader.ts')],
    bundle: true,
    write: false,
    platform: 'node',
    target: 'node18',
    format: 'iife',
    globalName: '__flipsideLoader',
    legalComments: 'none',
    logLevel: 'warning',
  });
  if (loader.errors.length > 0) throw new Error(`esbuild failed on the loader: ${loader.errors.map((e) => e.text).join('; ')}`);
  const source = MODULE_WRAPPER[0] + bundleText.replace(/^#!.*/, '') + MODULE_WRAPPER[1];
  const id = createHash('sha256').update(source).digest('hex').slice(0, 16);
  return [
    '#!/usr/bin/env node',
    '// Flipside device client: the start-up loader (client/device-loader.ts), then the bundle as a string.',
    loader.outputFiles[0]!.text.trimEnd(),
    SOURCE_LINE[0].replace('ID', JSON.stringify(id)) + JSON.stringify(source) + SOURCE_LINE[1],
    '',
  ].join('\n');
}

export async function buildDeviceBundle(outfile: string = DEVICE_BUNDLE, o: DeviceBuildOptions = {}): Promise<string> {
  await mkdir(dirname(outfile), { recursive: true });
  const r = await build({ ...deviceBuildOptions(outfile, o), banner: {}, write: false, metafile: true });
  if (r.errors.length > 0) throw new Error(`esbuild failed: ${r.errors.map((e) => e.text).join('; ')}`);
  const tmp = `${outfile}.tmp-${process.pid}`;
  await writeFile(tmp, await composeDeviceBundle(r.outputFiles![0]!.text), { mode: 0o755 });
  await chmod(tmp, 0o755);
  await rename(tmp, outfile);
  return outfile;
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
// No top-level await: this module is in the CommonJS CLI bundle (bin/build.js). A failed build
// rejects unhandled: Node prints it and exits 1.
if (invokedDirectly) {
  void buildDeviceBundle().then((out) => {
    console.log(`wrote ${out}`);
  });
}
