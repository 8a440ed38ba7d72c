// Loaded into every ava worker (package.json ava.require). ava's TAP output stays silent about two
// ways a worker can fail a run after all of its tests passed, leaving only "ava exited with 1":
// a process.exit() call (ava counts it as an unexpected exit and prints the pending tests, of which
// there are none), and a worker that never exits (the run waits for ava's inactivity timeout, which
// has no pending test to name, or longer while a t.timeout() holds it off). Both name the test
// file and the cause on stderr, with the FLIPSIDE-TEST-WORKER marker that ci/test.sh repeats under
// "== failed"; a worker still running after its tests exits non-zero, which ava reports as
// "<file> exited with a non-zero exit code".
import process from 'node:process';
import test, { registerCompletionHandler } from 'ava';

const WORKER_MARKER = 'FLIPSIDE-TEST-WORKER';
// Long enough for child processes a hook just killed to be reaped and sockets to finish closing.
const graceMs = Number(process.env.FLIPSIDE_TEST_EXIT_GRACE_MS ?? 20_000);
const file = test.meta.file.replace(/^file:\/\//, '');

let done = false;
const avaExit = process.exit;
// ava's own process.exit replacement is in place by now; this one only says who called it.
process.exit = ((code?: number | string | null) => {
  if (!done) {
    const stack = new Error('process.exit').stack?.split('\n').slice(2, 8).join(' | ') ?? '';
    process.stderr.write(`\n${WORKER_MARKER} ${file}: process.exit(${code ?? ''}) called before its tests ended, at ${stack}\n`);
  }
  return avaExit.call(process, code as number);
}) as typeof process.exit;

registerCompletionHandler(() => {
  done = true;
  const timer = setTimeout(() => {
    process.stderr.write(`\n${WORKER_MARKER} ${file}: still running ${graceMs} ms after its tests ended; open: ${describeOpenHandles()}\n`);
    killLeftChildren();
    process.exit(1);
  }, graceMs);
  // Unref'd: a worker with nothing left open exits at once, as if this timer were not here.
  timer.unref();
});

type Handle = {
  constructor?: { name?: string };
  spawnargs?: string[];
  pid?: number;
  remoteAddress?: string;
  remotePort?: number;
  localPort?: number;
  address?: () => unknown;
  hasRef?: () => boolean;
};

function activeHandles(): Handle[] {
  // _getActiveHandles is undocumented but the only way to see which child or socket it is.
  return ((process as unknown as { _getActiveHandles?: () => Handle[] })._getActiveHandles?.() ?? []).filter((h) => !h.hasRef || h.hasRef());
}

/** A child a test left running must not outlive its worker and disturb the files after it. */
function killLeftChildren(): void {
  for (const h of activeHandles()) {
    if (!h.spawnargs || !h.pid) continue;
    try {
      process.kill(h.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** What keeps the process alive, in words: child processes by command line, sockets by address. */
function describeOpenHandles(): string {
  const words = activeHandles()
    .map((h) => {
      const kind = h.constructor?.name ?? 'handle';
      if (h.spawnargs) return `child ${h.pid} (${h.spawnargs.join(' ').slice(0, 200)})`;
      if (kind === 'Socket' && (h.remoteAddress || h.localPort)) return `socket ${h.remoteAddress ?? ''}:${h.remotePort ?? h.localPort}`;
      if (kind === 'Server' && h.address) return `server ${JSON.stringify(h.address())}`;
      return kind;
    })
    // Unnamed sockets are ava's own channel and stdio pipes; a leaked child is named above.
    .filter((w) => w !== 'Timeout' && w !== 'Socket' && w !== 'Pipe');
  const resources = process.getActiveResourcesInfo().filter((kind) => kind !== 'Timeout' && kind !== 'TTYWrap');
  return words.length > 0 ? words.join('; ') : resources.join(', ') || "(nothing ref'd that Node reports)";
}
