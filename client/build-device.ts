// `npm run build:device`: bundles the client into ONE file, dist/device/flipside.cjs, for devices
// that have Debian's Node 18 and nothing else (no npm install, no compiler). The QEMU image
// installs it as /usr/lib/flipside/flipside.cjs.
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { chmod, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
    plugins: [absentNatives],
  };
}

export async function buildDeviceBundle(outfile: string = DEVICE_BUNDLE, o: DeviceBuildOptions = {}): Promise<string> {
  await mkdir(dirname(outfile), { recursive: true });
  const r = await build({ ...deviceBuildOptions(outfile, o), metafile: true });
  if (r.errors.length > 0) throw new Error(`esbuild failed: ${r.errors.map((e) => e.text).join('; ')}`);
  await chmod(outfile, 0o755);
  return outfile;
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedDirectly) {
  const out = await buildDeviceBundle();
  console.log(`wrote ${out}`);
}
