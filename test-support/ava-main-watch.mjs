// Preloaded into ava's main process by ci/test.sh. ava's TAP output does not say when the run was
// interrupted (SIGINT: it prints the summary and exits 1), so a run whose tests all passed could end
// with "ava exited with 1" and no reason. This says it on stderr, with the marker ci/test.sh looks for.
import process from 'node:process';

const MARKER = 'FLIPSIDE-TEST-WORKER';
// ava passes its node options on to its workers; they have an IPC channel, the main process not.
if (!process.send) {
  // ava has its own SIGINT listener, so listening here changes nothing about how it ends.
  process.on('SIGINT', () => process.stderr.write(`\n${MARKER} ava: interrupted by SIGINT\n`));
  process.on('exit', (code) => {
    if (code !== 0) process.stderr.write(`\n${MARKER} ava: exiting with code ${code}\n`);
  });
}
