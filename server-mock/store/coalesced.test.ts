import test from 'ava';
import { Coalesced } from './coalesced.js';

/** A gate the test opens: the job waits on it, so the test decides when a run ends. */
function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

test('calls made in one turn share one run', async (t) => {
  let runs = 0;
  const c = new Coalesced(async () => ++runs);
  const answers = await Promise.all([c.run(), c.run(), c.run()]);
  t.deepEqual(answers, [1, 1, 1]);
  t.true(c.idle);
});

test('one run at a time; calls made while one runs share the next, which starts after it', async (t) => {
  const gates = [gate(), gate()];
  const started: number[] = [];
  let running = 0;
  let most = 0;
  let n = 0;
  const c = new Coalesced(async () => {
    const mine = n++;
    started.push(mine);
    running++;
    most = Math.max(most, running);
    await gates[mine]!.wait;
    running--;
    return mine;
  });
  const first = c.run();
  // Wait until the first run started: a call now cannot join it.
  while (started.length === 0) await new Promise((r) => setImmediate(r));
  const second = [c.run(), c.run()];
  t.false(c.idle);
  await new Promise((r) => setImmediate(r));
  t.deepEqual(started, [0], 'the next run waits for the one running');
  gates[0]!.open();
  t.is(await first, 0);
  gates[1]!.open();
  t.deepEqual(await Promise.all(second), [1, 1]);
  t.is(most, 1);
  t.true(c.idle);
});

test('a failed run fails its callers only; the next one runs', async (t) => {
  let n = 0;
  const c = new Coalesced(async () => {
    if (n++ === 0) throw new Error('boom');
    return 'ok';
  });
  const failed = [c.run(), c.run()];
  for (const f of failed) await t.throwsAsync(f, { message: 'boom' });
  t.is(await c.run(), 'ok');
  await c.settled();
  t.true(c.idle);
});
