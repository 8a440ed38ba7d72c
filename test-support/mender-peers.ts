// The real Mender tools from Debian (mender-artifact 3.9.0, mender-cli 1.9.0, mender 3.4.0) as
// peers in tests. A test that needs one runs only where it is installed (ci/setup.sh installs
// them) and is reported as skipped, never passed, where it is missing.
import test, { type TestFn } from 'ava';
import { findPeer } from './peer-tools.js';

export { findPeer, runTool, runToolAsync, type RunResult } from './peer-tools.js';

/** `test` when every named tool is installed, else `test.skip` (so the run counts it as skipped). */
export function testWithPeers(...names: string[]): { test: TestFn; missing: string[] } {
  const missing = names.filter((n) => findPeer(n) === null);
  return { test: missing.length === 0 ? test : (test.skip as unknown as TestFn), missing };
}
