// Builds the host CLIs into dist/cli/<name>.cjs (esbuild bundles of our own code; npm packages
// stay in node_modules and load only when a command needs them), so bin/ starts without
// compiling TypeScript. `node bin/build.js` (npm run build, ci/setup.sh) builds what is stale;
// bin/launch.js rebuilds a stale CLI on its own before running it. A bundle knows its inputs
// (dist/cli/<name>.inputs.json): it is stale when any of them is newer than it, or gone
// (bin/stale.js).
//
// Two steps, because esbuild splits code into lazily loaded chunks only for ES modules, and a
// CommonJS start is ~10 ms cheaper on Node 20 (no ESM loader): (1) one ESM build with code
// splitting, so `--help` loads the command table and each command's code loads when it runs;
// (2) each output file converted on its own to CommonJS (imports between chunks become
// require(), dynamic import() a lazy require()). Chunk-to-chunk imports are acyclic (a chunk
// only imports code shared by more entry points than its own), so require() order is ESM order.
// The chunks an entry needs at start-up are then carried inside the entry file (embedChunks).
//
// Each module's import.meta.url is rewritten to its source file's URL (relative to the bundle),
// so every asset a module finds beside itself (boot scripts, UI files, boards/) is found in the
// source tree exactly as under tsx. The device client is built separately, as one file for
// Node 18 (client/build-device.ts).
'use strict';
const { mkdirSync, readFileSync, renameSync, utimesSync, writeFileSync } = require('node:fs');
const { dirname, join, relative } = require('node:path');
const { ROOT, OUT_DIR, bundlePath, inputsPath, isStale } = require('./stale.js');

/** CLI name → its module (exports main(argv)). */
const CLIS = {
  flipside: 'client/cli.ts',
  'flipside-artifact': 'artifact/cli.ts',
  'flipside-server': 'server-mock/cli.ts',
  'flipside-lab': 'harness/cli.ts',
};

const EXTERNAL = ['better-sqlite3', 'serialport', '@serialport/*', 'esbuild', 'playwright-core', 'tsx', 'tsx/*', 'fsevents'];

/**
 * What a bundle's staleness is judged on: our own sources one by one, the build scripts (how the
 * bundle is made), and npm's record of the installed tree (node_modules/.package-lock.json,
 * rewritten by every npm install/ci) for all the packages at once. Stat-ing each bundled package
 * file cost lab's start-up ~660 stats.
 */
function staleInputs(inputs) {
  const own = inputs.filter((f) => !f.split(/[\\/]/).includes('node_modules'));
  const self = [__filename, require.resolve('./stale.js')].map((f) => relative(ROOT, f));
  return [...own, ...self, ...(own.length === inputs.length ? [] : [join('node_modules', '.package-lock.json')])];
}

// Names the converted files define for the rewritten import.meta uses (step 2 adds each where used).
const SOURCE_URL = '__flipsideSourceUrl';
const SOURCE_PATH = '__flipsideSourcePath';
const RESOLVE = '__flipsideResolve';

const sourceUrls = {
  name: 'source-import-meta',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${join('node_modules', '')}`)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta')) return { contents: text, loader: 'ts' };
      const rel = relative(ROOT, args.path).split('\\').join('/');
      // The common `fileURLToPath(import.meta.url)` becomes the path itself: a URL made only to be
      // turned back into a path cost paths.ts ~3 ms at every lab start (Node's first URL use).
      const contents = text
        .replaceAll('fileURLToPath(import.meta.url)', `${SOURCE_PATH}(${JSON.stringify(rel)})`)
        .replaceAll('import.meta.url', `${SOURCE_URL}(${JSON.stringify(rel)})`)
        .replaceAll('import.meta.resolve(', `${RESOLVE}(`);
      if (contents.includes('import.meta')) throw new Error(`${rel}: an import.meta use the CommonJS CLI bundle cannot carry (only .url and .resolve() are rewritten)`);
      return { contents, loader: 'ts' };
    });
  },
};

// Two start-up costs of commander, removed when the bundle is made (a commander release that
// words these lines differently is bundled as it is; test-support/built-clis.test.ts then fails):
// - it requires child_process at its top, only to spawn executable sub-commands (none of our CLIs
//   has one): with net, dgram and the streams that was ~7-10 ms of CPU and 1-5 MiB of each
//   `--help` (25 interleaved runs, load 11). It is required on first use instead.
// - it writes help and --version through process.stdout, whose creation loads the stream modules
//   (and net for a pipe): 3.6 ms for /dev/null, 6 ms for a pipe. Where fd 1 is no terminal (a
//   pipe, a file, /dev/null: /proc/self/fd/1 says) the text is written with fs.writeSync and
//   wrapped at commander's 80 columns, as before for a non-terminal. A terminal (or no /proc)
//   keeps the stream and its width; so does the rest of a write that fails (EAGAIN on a
//   non-blocking pipe, EPIPE), which the stream then reports as before.
const COMMANDER_CHILD_PROCESS = "const childProcess = require('node:child_process');";
const COMMANDER_WRITE_OUT = 'writeOut: (str) => process.stdout.write(str),';
const COMMANDER_OUT_WIDTH = 'process.stdout.isTTY ? process.stdout.columns : undefined,';
const DIRECT_STDOUT = `
let flipsideStdoutIsTerminal;
const flipsideTerminalStdout = () => {
  if (flipsideStdoutIsTerminal === undefined) {
    try {
      flipsideStdoutIsTerminal = /^\\/dev\\/(pts\\/|tty|console)/.test(require('node:fs').readlinkSync('/proc/self/fd/1'));
    } catch {
      flipsideStdoutIsTerminal = true;
    }
  }
  return flipsideStdoutIsTerminal;
};
const flipsideWriteOut = (str) => {
  if (flipsideTerminalStdout()) return process.stdout.write(str);
  const buf = Buffer.from(str);
  let done = 0;
  try {
    while (done < buf.length) done += require('node:fs').writeSync(1, buf, done);
  } catch {
    return process.stdout.write(buf.subarray(done));
  }
  return true;
};
`;
const commanderStartUp = {
  name: 'commander-start-up',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (![COMMANDER_CHILD_PROCESS, COMMANDER_WRITE_OUT, COMMANDER_OUT_WIDTH].every((line) => text.includes(line))) return { contents: text, loader: 'js' };
      const contents = text
        .replace(COMMANDER_CHILD_PROCESS, `const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };\n${DIRECT_STDOUT}`)
        .replace(COMMANDER_WRITE_OUT, 'writeOut: flipsideWriteOut,')
        .replace(COMMANDER_OUT_WIDTH, `flipsideTerminalStdout() && ${COMMANDER_OUT_WIDTH}`);
      return { contents, loader: 'js' };
    });
  },
};

/** The CommonJS file for one ESM output of step 1 (`path` is where it lands, `outputs` all the step's files). */
async function toCommonJs(transform, path, code, map, outputs) {
  // The input's source map rides inline, so the new map points at the TypeScript sources.
  const inline = `${code}\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(map).toString('base64')}\n`;
  const r = await transform(inline, {
    format: 'cjs',
    loader: 'js',
    platform: 'node',
    target: 'node20',
    // Not ".mjs": esbuild would then give `import X from` a CommonJS module's exports even when it
    // is a converted ES module (__esModule), and our chunks' default exports would be lost.
    sourcefile: relative(ROOT, path).replace(/\.cjs$/, '.js'),
    sourcemap: 'external',
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'error',
  });
  // import() of one of our chunks becomes a lazy require() (sync, no ESM loader); import() of
  // anything else (a package, a scenario's .ts file by URL) stays import().
  const code2 = r.code.replace(/\bimport\("(\.\.?\/[^"]+\.cjs)"\)/g, (call, spec) =>
    outputs.has(join(dirname(path), spec)) ? `Promise.resolve().then(()=>require(${JSON.stringify(spec)}))` : call,
  );
  const toRoot = JSON.stringify(relative(dirname(path), ROOT) || '.');
  const defs = [];
  if (code2.includes(SOURCE_PATH)) defs.push(`var ${SOURCE_PATH}=(rel)=>require("node:path").join(__dirname,${toRoot},rel);`);
  if (code2.includes(SOURCE_URL)) defs.push(`var ${SOURCE_URL}=(rel)=>require("node:url").pathToFileURL(require("node:path").join(__dirname,${toRoot},rel)).href;`);
  if (code2.includes(RESOLVE)) defs.push(`var ${RESOLVE}=(s)=>require("node:url").pathToFileURL(require.resolve(s)).href;`);
  const own = JSON.parse(r.map);
  if (defs.length === 0) return { code: code2, map: own };
  // The definitions get a line of their own: the map moves down by one line.
  return { code: `${defs.join('')}\n${code2}`, map: { ...own, mappings: `;${own.mappings}` } };
}

/**
 * The entry with the chunks it loads at start-up inside it: one file to open instead of up to 14,
 * and far less of Node's module resolution (path.resolve and realpath per require()), which
 * pushed lab's `--help` over V8's optimisation threshold for Node's path normaliser (a TurboFan
 * compile: ~5 ms of CPU and 4 MiB). Each chunk is registered in require.cache under its own
 * file's name when it runs, so a chunk loaded later from disk (a command's code) that requires
 * it gets this instance, not a second one. `chunks` and `entry` are [path, {code, map}].
 */
function embedChunks(path, entry, chunks) {
  const loader = [
    'var __flipsideEmbedded=(()=>{const Module=require("node:module"),{dirname:d,join:j}=require("node:path"),defs=new Map;',
    // Relative ids resolve against the requiring chunk; bare ids resolve the same from dist/cli/ and chunks/.
    'const router=(file)=>{const req=(id)=>{if(id[0]!==".")return require(id);const f=j(d(file),id);return defs.has(f)?load(f):require(f)};',
    'req.resolve=(id,o)=>require.resolve(id[0]==="."?j(d(file),id):id,o);req.cache=require.cache;req.main=require.main;return req};',
    'const load=(file)=>{const hit=require.cache[file];if(hit)return hit.exports;const m=new Module(file,module);m.filename=file;require.cache[file]=m;',
    'try{defs.get(file).call(m.exports,m.exports,router(file),m,file,d(file))}catch(e){delete require.cache[file];throw e}m.loaded=!0;return m.exports};',
    'return{define:(rel,fn)=>{defs.set(j(__dirname,rel),fn)},run:(fn)=>{fn.call(module.exports,module.exports,router(__filename),module,__filename,__dirname)}}})();',
  ].join('');
  const parts = [loader];
  const sections = [];
  let line = 1;
  const add = (head, [file, { code, map }]) => {
    parts.push(head);
    line += 1;
    // Each map's sources are relative to its own file: make them relative to the entry's.
    const sources = map.sources.map((s) => relative(dirname(path), join(dirname(file), s)));
    sections.push({ offset: { line, column: 0 }, map: { ...map, sources } });
    const body = code.endsWith('\n') ? code.slice(0, -1) : code;
    parts.push(body);
    line += body.split('\n').length;
    parts.push('});');
    line += 1;
  };
  const wrapper = 'function(exports,require,module,__filename,__dirname){';
  for (const c of chunks) add(`__flipsideEmbedded.define(${JSON.stringify(relative(dirname(path), c[0]))},${wrapper}`, c);
  add(`__flipsideEmbedded.run(${wrapper}`, entry);
  parts.push(`//# sourceMappingURL=${relative(dirname(path), path)}.map`, '');
  return { code: parts.join('\n'), map: { version: 3, file: relative(dirname(path), path), sections } };
}

async function buildCli(name) {
  // The bundle is dated when its build started, not when it ended: a source saved while esbuild
  // ran may not be in it, and must make it stale.
  const started = new Date();
  const { build, transform } = await import('esbuild');
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
    // Step 1's import paths already name the CommonJS files step 2 writes.
    outExtension: { '.js': '.cjs' },
    chunkNames: 'chunks/[name]-[hash]',
    plugins: [sourceUrls, commanderStartUp],
    metafile: true,
    // Less to parse at every start (commander alone is ~110 KB); names stay, so stacks read the same.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'external',
    logLevel: 'error',
    write: false,
  });
  const maps = new Map(r.outputFiles.filter((f) => f.path.endsWith('.map')).map((f) => [f.path.slice(0, -'.map'.length), f.text]));
  const outputs = new Set(r.outputFiles.map((f) => f.path));
  const converted = new Map();
  for (const f of r.outputFiles) if (!f.path.endsWith('.map')) converted.set(f.path, await toCommonJs(transform, f.path, f.text, maps.get(f.path), outputs));
  // The chunks the entry imports, transitively (esbuild's record of each output's imports).
  const entry = bundlePath(name);
  const meta = (p) => r.metafile.outputs[relative(process.cwd(), p)];
  const startUp = [];
  const visit = (p) => {
    for (const i of meta(p).imports) {
      const dep = join(process.cwd(), i.path);
      if (i.kind === 'import-statement' && !i.external && !startUp.includes(dep)) {
        startUp.push(dep);
        visit(dep);
      }
    }
  };
  visit(entry);
  const files = [];
  for (const [path, out] of converted) {
    if (path === entry) continue;
    files.push([path, `${out.code}${out.code.endsWith('\n') ? '' : '\n'}//# sourceMappingURL=${relative(dirname(path), path)}.map\n`], [`${path}.map`, JSON.stringify(out.map)]);
  }
  const merged = embedChunks(entry, [entry, converted.get(entry)], startUp.map((p) => [p, converted.get(p)]));
  files.push([entry, merged.code], [`${entry}.map`, JSON.stringify(merged.map)]);
  // Each file lands whole (temp file, rename): a CLI started meanwhile (tests start several at
  // once) sees the old bundle or the new one, and two builds at once write the same bytes. The
  // entry goes last: once it is new, every chunk it names is there.
  const put = (path, data) => {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  };
  for (const [path, data] of files) if (path !== entry) put(path, data);
  put(entry, files.find(([path]) => path === entry)[1]);
  utimesSync(entry, started, started);
  put(inputsPath(name), JSON.stringify(staleInputs(Object.keys(r.metafile.inputs).map((p) => relative(ROOT, join(process.cwd(), p))))));
}

/** Builds the stale CLIs (all with force); returns the names built. */
async function buildClis(force = false) {
  const built = [];
  for (const name of Object.keys(CLIS)) {
    if (force || isStale(name)) {
      await buildCli(name);
      built.push(name);
    }
  }
  return built;
}

module.exports = { ROOT, OUT_DIR, CLIS, bundlePath, isStale, buildCli, buildClis };

if (require.main === module) {
  buildClis(process.argv.includes('--force')).then((built) => {
    console.log(built.length > 0 ? `built ${built.map((n) => relative(ROOT, bundlePath(n))).join(', ')}` : 'CLIs up to date');
  });
}
