import test from 'ava';
import { EventEmitter } from 'node:events';
import { Timeline } from '../run/timeline.js';
import type { BoardState, ConsoleLine, Fault } from '../types.js';
import { FaultScheduler } from './scheduler.js';
import { fromEmitter, type Timers } from './sources.js';

/** A subscribe/emit pair that counts live listeners, to prove disposal leaves none behind. */
function source<T>() {
  const listeners = new Set<(v: T) => void>();
  return {
    subscribe: (l: (v: T) => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    emit: (v: T) => [...listeners].forEach((l) => l(v)),
    get size() {
      return listeners.size;
    },
  };
}

function fakeTimers() {
  let now = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  let id = 0;
  const timers: Timers = {
    setTimeout: (fn, ms) => {
      pending.set(++id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (h) => void pending.delete(h as number),
  };
  const advance = (ms: number) => {
    now += ms;
    for (const [k, p] of [...pending].sort((a, b) => a[1].at - b[1].at)) {
      if (p.at <= now) {
        pending.delete(k);
        p.fn();
      }
    }
  };
  return { timers, advance, pending, now: () => now };
}

const stateLine = (state: string): ConsoleLine => ({ t: 0, text: `[ 3.1] FLIPSIDE-STATE {"state":"${state}","deployment":"d","t":1}` });

function setup(faults: Fault[]) {
  const con = source<ConsoleLine>();
  const status = new EventEmitter();
  const written = source<number>();
  const sent = source<number>();
  const stage = source<BoardState>();
  const ft = fakeTimers();
  const timeline = new Timeline({ origin: 0, clock: ft.now });
  const calls: number[] = [];
  const sched = new FaultScheduler({
    faults,
    action: (_f, i) => void calls.push(i),
    timeline,
    now: ft.now,
    sources: {
      console: { onLine: con.subscribe },
      serverStatus: { onStatus: fromEmitter<string>(status, 'status') },
      bytesWritten: { onBytes: written.subscribe },
      bytesSent: { onBytes: sent.subscribe },
      bootStage: { onStage: stage.subscribe },
      timers: ft.timers,
    },
  });
  return { con, status, written, sent, stage, ft, timeline, calls, sched };
}

test('a state trigger fires once, on the nth entry, inside the line that reports it', (t) => {
  const s = setup([
    { kind: 'power-cut', at: { on: 'state', state: 'ArtifactReboot' } },
    { kind: 'power-cut', at: { on: 'state', state: 'ArtifactReboot', nth: 2 } },
  ]);
  s.sched.arm();
  s.con.emit({ t: 0, text: 'ArtifactReboot mentioned in a log line' });
  s.con.emit(stateLine('Download'));
  t.deepEqual(s.calls, []);
  s.con.emit(stateLine('ArtifactReboot'));
  t.deepEqual(s.calls, [0]);
  s.con.emit(stateLine('ArtifactReboot'));
  s.con.emit(stateLine('ArtifactReboot'));
  t.deepEqual(s.calls, [0, 1]);
});

test('server status, byte counters and boot stages each fire once at their point', (t) => {
  const s = setup([
    { kind: 'server-down', at: { on: 'server-status', status: 'rebooting' }, durationMs: 500 },
    { kind: 'power-cut', at: { on: 'bytes-written', bytes: 1000 } },
    { kind: 'network-drop', at: { on: 'bytes-sent', bytes: 10 } },
    { kind: 'reset', at: { on: 'boot-stage', stage: 'shell', nth: 2 } },
  ]);
  s.sched.arm();
  s.status.emit('status', 'downloading');
  s.written.emit(999);
  s.sent.emit(9);
  s.stage.emit('shell');
  t.deepEqual(s.calls, []);
  s.status.emit('status', 'rebooting');
  s.status.emit('status', 'rebooting');
  t.deepEqual(s.calls, [0]);
  s.written.emit(4096); // a coarse counter jumps past the offset: fires at the first total at or beyond it
  s.written.emit(8192);
  t.deepEqual(s.calls, [0, 1]);
  s.sent.emit(10);
  s.stage.emit('bootloader');
  s.stage.emit('shell');
  t.deepEqual(s.calls, [0, 1, 2, 3]);
  t.deepEqual(s.sched.pending(), []);
});

test('a time trigger fires at its time after arm()', (t) => {
  const s = setup([{ kind: 'network-drop', at: { on: 'time', ms: 300 } }]);
  s.ft.advance(1000); // before arm: nothing counts
  s.sched.arm();
  s.ft.advance(299);
  t.deepEqual(s.calls, []);
  s.ft.advance(1);
  t.deepEqual(s.calls, [0]);
  t.deepEqual(s.sched.fired().map((f) => f.t), [1300]);
});

test('each firing is recorded on the timeline', (t) => {
  const s = setup([{ kind: 'power-cut', at: { on: 'state', state: 'ArtifactCommit' } }]);
  s.sched.arm();
  s.ft.advance(50);
  s.con.emit(stateLine('ArtifactCommit'));
  const ev = s.timeline.events();
  t.is(ev.length, 1);
  t.like(ev[0], { t: 50, source: 'fault', kind: 'power-cut', text: 'power-cut at client state ArtifactCommit' });
  t.deepEqual(ev[0]!.data, { index: 0, fault: { kind: 'power-cut', at: { on: 'state', state: 'ArtifactCommit' } } });
});

test('dispose removes every listener and timer; nothing fires afterwards', (t) => {
  const s = setup([
    { kind: 'power-cut', at: { on: 'state', state: 'Download' } },
    { kind: 'server-down', at: { on: 'server-status', status: 'success' } },
    { kind: 'power-cut', at: { on: 'bytes-written', bytes: 5 } },
    { kind: 'power-cut', at: { on: 'bytes-sent', bytes: 5 } },
    { kind: 'reset', at: { on: 'boot-stage', stage: 'shell' } },
    { kind: 'network-drop', at: { on: 'time', ms: 10 } },
  ]);
  s.sched.arm();
  t.deepEqual([s.con.size, s.status.listenerCount('status'), s.written.size, s.sent.size, s.stage.size, s.ft.pending.size], [1, 1, 1, 1, 1, 1]);
  s.sched.dispose();
  s.sched.dispose();
  t.deepEqual([s.con.size, s.status.listenerCount('status'), s.written.size, s.sent.size, s.stage.size, s.ft.pending.size], [0, 0, 0, 0, 0, 0]);
  s.con.emit(stateLine('Download'));
  s.ft.advance(100);
  t.deepEqual(s.calls, []);
  t.is(s.sched.pending().length, 6);
  t.throws(() => s.sched.arm(), { message: /disposed/ });
});

test('listeners are released once the last fault has fired', (t) => {
  const s = setup([{ kind: 'power-cut', at: { on: 'state', state: 'Download' } }]);
  s.sched.arm();
  s.con.emit(stateLine('Download'));
  t.is(s.con.size, 0);
});

test('a missing source is an error at arm(), not a fault that silently never fires', (t) => {
  const sched = new FaultScheduler({ faults: [{ kind: 'power-cut', at: { on: 'bytes-written', bytes: 1 } }], sources: {}, action: () => {} });
  t.throws(() => sched.arm(), { message: /bytes-written/ });
});

test('a failing action is reported and recorded, and does not refire', async (t) => {
  const con = source<ConsoleLine>();
  const timeline = new Timeline({ origin: 0, clock: () => 0 });
  const errors: string[] = [];
  let calls = 0;
  const sched = new FaultScheduler({
    faults: [
      { kind: 'power-cut', at: { on: 'state', state: 'Download' } },
      { kind: 'power-cut', at: { on: 'state', state: 'Download', nth: 2 } },
    ],
    sources: { console: { onLine: con.subscribe } },
    timeline,
    onError: (err) => errors.push((err as Error).message),
    action: async (_f, i) => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      if (i === 0) throw new Error('relay did not answer');
    },
  });
  sched.arm();
  con.emit(stateLine('Download'));
  con.emit(stateLine('Download'));
  await sched.settled();
  t.is(calls, 2);
  t.deepEqual(errors, ['relay did not answer']);
  t.true(timeline.events().some((e) => e.source === 'harness' && e.kind === 'fault-error' && e.text.includes('relay did not answer')));
});
