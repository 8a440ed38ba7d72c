import test from 'ava';
import { Timeline, type TimelineEvent } from './timeline.js';

function fakeClock(start = 1000) {
  let now = start;
  return { clock: () => now, advance: (ms: number) => (now += ms) };
}

test('events are stamped relative to the origin, from the clock or an explicit time', (t) => {
  const c = fakeClock();
  const tl = new Timeline({ clock: c.clock });
  c.advance(250);
  tl.append({ source: 'harness', kind: 'boot', text: 'power on' });
  tl.append({ source: 'server', kind: 'status', text: 'installing', at: 1100 });
  t.deepEqual(
    tl.events().map((e) => [e.t, e.source, e.kind]),
    [
      [250, 'harness', 'boot'],
      [100, 'server', 'status'],
    ],
  );
  t.is(tl.elapsed(), 250);
});

test('appended events cannot be changed afterwards', (t) => {
  const tl = new Timeline({ origin: 0, clock: () => 5 });
  const e = tl.append({ source: 'check', kind: 'pass', text: 'boots' });
  t.throws(() => {
    (e as { text: string }).text = 'rewritten';
  });
  t.is(tl.events()[0]!.text, 'boots');
});

test('a state line on the console yields a console event and a client-state event', (t) => {
  const tl = new Timeline({ origin: 10_000, clock: () => 10_000 });
  tl.appendConsoleLine({ t: 10_500, text: 'Starting kernel ...' });
  tl.appendConsoleLine({ t: 12_000, text: '[   1.2] FLIPSIDE-STATE {"state":"ArtifactReboot","deployment":"d7","t":99}' });
  const ev = tl.events();
  t.deepEqual(
    ev.map((e) => [e.t, e.source, e.kind]),
    [
      [500, 'console', 'line'],
      [2000, 'console', 'line'],
      [2000, 'client-state', 'ArtifactReboot'],
    ],
  );
  t.is(ev[2]!.text, 'ArtifactReboot (deployment d7)');
  t.deepEqual(ev[2]!.data, { state: 'ArtifactReboot', deployment: 'd7', t: 99 });
});

test('listeners see every event until they unsubscribe', (t) => {
  const tl = new Timeline({ origin: 0, clock: () => 0 });
  const seen: TimelineEvent[] = [];
  const off = tl.onEvent((e) => seen.push(e));
  tl.append({ source: 'env', kind: 'snapshot', text: 'boot_part=2' });
  off();
  tl.append({ source: 'env', kind: 'snapshot', text: 'boot_part=3' });
  t.deepEqual(seen.map((e) => e.text), ['boot_part=2']);
  t.is(tl.events().length, 2);
});
