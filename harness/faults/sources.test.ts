import test from 'ava';
import { EventEmitter } from 'node:events';
import { fromEmitter, pollingByteCounter, type Timers } from './sources.js';

function manualTimers() {
  const queue = new Map<number, () => void>();
  let id = 0;
  const timers: Timers = {
    setTimeout: (fn) => {
      queue.set(++id, fn);
      return id;
    },
    clearTimeout: (h) => void queue.delete(h as number),
  };
  /** Runs every due callback and lets the awaited reads settle. */
  const tick = async () => {
    const due = [...queue];
    queue.clear();
    for (const [, fn] of due) fn();
    await new Promise((r) => setImmediate(r));
  };
  return { timers, tick, queue };
}

test('fromEmitter subscribes and unsubscribes', (t) => {
  const em = new EventEmitter();
  const seen: string[] = [];
  const off = fromEmitter<string>(em, 'status')((s) => seen.push(s));
  em.emit('status', 'downloading');
  off();
  em.emit('status', 'installing');
  t.deepEqual(seen, ['downloading']);
  t.is(em.listenerCount('status'), 0);
});

test('polling reports changed totals only, skips failed reads, and stops when nobody listens', async (t) => {
  const m = manualTimers();
  const reads: (number | Error)[] = [0, 100, 100, new Error('qmp gone'), 300];
  const counter = pollingByteCounter(async () => {
    const r = reads.shift() ?? 300;
    if (r instanceof Error) throw r;
    return r;
  }, 50, m.timers);
  t.is(m.queue.size, 0);
  const seen: number[] = [];
  const off = counter.onBytes((n) => seen.push(n));
  for (let i = 0; i < 6; i++) await m.tick();
  t.deepEqual(seen, [0, 100, 300]);
  off();
  t.is(m.queue.size, 0);
  await m.tick();
  t.deepEqual(seen, [0, 100, 300]);
});
