// Builds the host CLIs into dist/cli/<name>.mjs (one esbuild bundle of our own code each; npm
// packages stay in node_modules and load only when a command needs them), so bin/ starts without
// compiling TypeScript. `node bin/build.js` (npm run build, ci/setup.sh) builds what is stale;
// bin/launch.js rebuilds a stale CLI on its own before running it. A bundle knows its inputs
// (dist/cli/<name>.inputs.json): it is stale when any of them is newer than it, or gone.
// Each module's import.meta.url is rewritten to its source file's URL (relative to the bundle),
// so every asset a module finds beside itself (boot scripts, UI files, boards/) is found in the
// source tree exactly as under tsx. The device client is built separately, as one file for
// Node 18 (client/build-device.ts).
import { mkdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const OUT_DIR = join(ROOT, 'dist', 'cli');

/** CLI name → its module (exports main(argv)). */
export const CLIS = {
  flipside: 'client/cli.ts',
  'flipside-artifact': 'artifact/cli.ts',
  'flipside-server': 'server-mock/cli.ts',
  'flipside-lab': 'harness/cli.ts',
};

const EXTERNAL = ['better-sqlite3', 'serialport', '@serialport/*', 'esbuild', 'playwright-core', 'tsx', 'tsx/*', 'fsevents'];

export const bundlePath = (name) => join(OUT_DIR, `${name}.mjs`);
const inputsPath = (name) => join(OUT_DIR, `${name}.inputs.json`);

/**
 * What a bundle's staleness is judged on: our own sources one by one, this build script (how the
 * bundle is made), and npm's record of the installed tree (node_modules/.package-lock.json,
 * rewritten by every npm install/ci) for all the packages at once. Stat-ing each bundled package
 * file cost lab's start-up ~660 stats.
 */
function staleInputs(inputs) {
  const own = inputs.filter((f) => !f.split(/[\\/]/).includes('node_modules'));
  const self = relative(ROOT, fileURLToPath(import.meta.url));
  return [...own, self, ...(own.length === inputs.length ? [] : [join('node_modules', '.package-lock.json')])];
}

/** True when the bundle is missing or any of its inputs changed since it was built. */
export function isStale(name) {
  let built;
  let inputs;
  try {
    built = statSync(bundlePath(name)).mtimeMs;
    inputs = JSON.parse(readFileSync(inputsPath(name), 'utf8'));
  } catch {
    return true;
  }
  // Runs before every CLI start: plain string paths and no exceptions keep it to a few ms.
  const base = `${ROOT}/`;
  for (const f of inputs) {
    const st = statSync(base + f, { throwIfNoEntry: false });
    if (st === undefined || st.mtimeMs > built) return true;
  }
  return false;
}

const sourceUrls = {
  name: 'source-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${join('node_modules', '')}`)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return { contents: text, loader: 'ts' };
      // The code may land in an entry or a shared chunk (dist/cli/ or dist/cli/chunks/): resolve
      // against the repository root, the part of the bundle's own URL before /dist/cli/.
      const rel = relative(ROOT, args.path).split('\\').join('/');
      const url = `new URL(${JSON.stringify(rel)}, import.meta.url.slice(0, import.meta.url.lastIndexOf('/dist/cli/') + 1)).href`;
      return { contents: text.replaceAll('import.meta.url', url), loader: 'ts' };
    });
  },
};

export async function buildCli(name) {
  // The bundle is dated when its build started, not when it ended: a source saved while esbuild
  // ran may not be in it, and must make it stale.
  const started = new Date();
  const { build } = await import('esbuild');
  mkdirSync(OUT_DIR, { recursive: true });
  const r = await build({
    entryPoints: { [name]: join(ROOT, CLIS[name]) },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Pure-JS packages are bundled (one file to load, not hundreds); native, binary-shipping
    // and loader packages stay in node_modules.
    external: EXTERNAL,
    splitting: true,
    outdir: OUT_DIR,
    entryNames: '[name]',
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    // Bundled CommonJS packages call require(): give the ESM bundle one.
    banner: { js: "import { createRequire as __flipsideRequire } from 'node:module'; const require = __flipsideRequire(import.meta.url);" },
    plugins: [sourceUrls],
    metafile: true,
    // Less to parse at every start (commander alone is ~110 KB); names stay, so stacks read the same.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    logLevel: 'error',
    write: false,
  });
  // Each file lands whole (temp file, rename): a CLI started meanwhile (tests start several at
  // once) sees the old bundle or the new one, and two builds at once write the same bytes.
  const put = (path, data) => {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  };
  for (const f of r.outputFiles) if (f.path !== bundlePath(name)) put(f.path, f.contents);
  put(bundlePath(name), r.outputFiles.find((f) => f.path === bundlePath(name)).contents);
  utimesSync(bundlePath(name), started, started);
  put(inputsPath(name), JSON.stringify(staleInputs(Object.keys(r.metafile.inputs).map((p) => relative(ROOT, join(process.cwd(), p))))));
}

/** Builds the stale CLIs (all with force); returns the names built. */
export async function buildClis(force = false) {
  const built = [];
  for (const name of Object.keys(CLIS)) {
    if (force || isStale(name)) {
      await buildCli(name);
      built.push(name);
    }
  }
  return built;
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const built = await buildClis(process.argv.includes('--force'));
  console.log(built.length > 0 ? `built ${built.map((n) => relative(ROOT, bundlePath(n))).join(', ')}` : 'CLIs up to date');
}
