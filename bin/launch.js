// Shared by the bin/ wrappers: runs a CLI's built bundle (dist/cli/<name>.cjs, see build.js),
// rebuilding it first when a source changed, so `bin/` never compiles TypeScript at start-up.
// All CommonJS and synchronous up to `main`: Node 20 starts a CommonJS entry without its ESM
// loader (async linking, a facade per built-in), which cost ~8-10 ms of each `--help`.
// (The device client is different: it ships as one Node 18 bundle, client/build-device.ts.)
'use strict';
const { bundlePath, isStale } = require('./stale.js');

function run(name) {
  const { main } = require(bundlePath(name));
  return Promise.resolve(main(process.argv.slice(2))).then((code) => {
    process.exitCode = typeof code === 'number' ? code : 0;
  });
}

/** Runs CLI `name` with this process's arguments; a failure to build or start rejects (Node prints it, exit 1). */
function launch(name) {
  if (!isStale(name)) return run(name);
  return require('./build.js')
    .buildCli(name)
    .then(() => run(name));
}

module.exports = { launch };
