// A scratch folder that lives as long as this process. The removal runs in an 'exit' handler,
// where a throw (a child still writing into the folder: ENOTEMPTY) would turn a finished, passing
// run into a non-zero exit, so it retries briefly and otherwise leaves the folder behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function processTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // left in the temp folder: harmless, and the run's result stands
    }
  });
  return dir;
}
