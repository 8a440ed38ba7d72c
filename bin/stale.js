// Whether a CLI's built bundle (dist/cli/<name>.cjs, see build.js) must be rebuilt. Runs before
// every CLI start, so it is plain CommonJS on built-ins Node has loaded anyway: no ESM loader,
// no `node:fs` ESM facade, and not build.js (esbuild loads only when a rebuild is needed).
'use strict';
const { readFileSync, statSync } = require('node:fs');
const { dirname, join } = require('node:path');

const ROOT = dirname(__dirname);
const OUT_DIR = join(ROOT, 'dist', 'cli');

const bundlePath = (name) => join(OUT_DIR, `${name}.cjs`);
const inputsPath = (name) => join(OUT_DIR, `${name}.inputs.json`);

/** True when the bundle is missing or any of its inputs (build.js wrote the list) changed since it was built. */
function isStale(name) {
  let built;
  let inputs;
  try {
    built = statSync(bundlePath(name)).mtimeMs;
    inputs = JSON.parse(readFileSync(inputsPath(name), 'utf8'));
  } catch {
    return true;
  }
  // Plain string paths and no exceptions keep this to a few ms (lab has ~250 inputs).
  const base = `${ROOT}/`;
  for (const f of inputs) {
    const st = statSync(base + f, { throwIfNoEntry: false });
    if (st === undefined || st.mtimeMs > built) return true;
  }
  return false;
}

module.exports = { ROOT, OUT_DIR, bundlePath, inputsPath, isStale };
