// Shared by the bin/ wrappers: runs a CLI's built bundle (dist/cli/<name>.mjs, see build.js),
// rebuilding it first when a source changed, so `bin/` never compiles TypeScript at start-up.
// (The device client is different: it ships as one Node 18 bundle, client/build-device.ts.)
import { bundlePath, buildCli, isStale } from './build.js';

export async function launch(name) {
  if (isStale(name)) await buildCli(name);
  const { main } = await import(bundlePath(name));
  const code = await main(process.argv.slice(2));
  process.exitCode = typeof code === 'number' ? code : 0;
}
