import test from 'ava';
import { FakeBoard } from '../board/board.fake.js';
import { BoardStrategy, StageTimeout } from './board-strategy.js';
import type { Console, ConsoleLine, Power } from '../types.js';

for (const stage of ['bootloader', 'shell', 'client-ready'] as const) {
  test(`a board that hangs before '${stage}' fails with a StageTimeout naming '${stage}'`, async (t) => {
    const board = new FakeBoard({ hangAt: stage, stageTimeoutMs: 100 });
    await board.reset({ runDir: '/nonexistent', dataFiles: {} });
    const err = await t.throwsAsync(board.strategy.transition('client-ready'), { instanceOf: StageTimeout });
    t.is(err!.stage, stage);
    t.regex(err!.message, new RegExp(`^StageTimeout: stage '${stage}' \\(waiting for /.+/\\) timed out after 0 s; last console lines:`));
    t.is(board.strategy.state, 'unknown');
  });
}

test('the timeout message carries the last console lines', async (t) => {
  const board = new FakeBoard({ hangAt: 'shell', stageTimeoutMs: 100 });
  await board.reset({ runDir: '/nonexistent', dataFiles: {} });
  const err = await t.throwsAsync(board.strategy.transition('shell'), { instanceOf: StageTimeout });
  t.true(err!.message.includes('U-Boot 2023.01 (fake)'));
});

/** Records every protocol call, to check the order the strategy makes them in. */
function recordingDrivers(): { calls: string[]; power: Power; console: Console; say: (text: string) => void } {
  const calls: string[] = [];
  let buffered = '';
  const lines: ConsoleLine[] = [];
  const waiting: Array<() => void> = [];
  const say = (text: string) => {
    buffered += `${text}\n`;
    lines.push({ t: Date.now(), text });
    waiting.splice(0).forEach((f) => f());
  };
  const power: Power = {
    name: 'rec',
    on: async () => {
      calls.push('power.on');
      setImmediate(() => ['U-Boot 1', 'sh# ', 'READY'].forEach(say));
    },
    cut: async () => void calls.push('power.cut'),
    cycle: async () => void calls.push('power.cycle'),
  };
  const console: Console = {
    name: 'rec',
    open: async () => undefined,
    close: async () => undefined,
    write: async (s) => void calls.push(`write ${s}`),
    expect: (re, ms) =>
      new Promise((res, rej) => {
        calls.push(`expect ${re.source}`);
        const timer = setTimeout(() => rej(new Error('timeout')), ms);
        const tryIt = () => {
          const m = buffered.match(re);
          if (!m) return void waiting.push(tryIt);
          buffered = buffered.slice(m.index! + m[0].length);
          clearTimeout(timer);
          res(m);
        };
        tryIt();
      }),
    transcript: () => lines,
    onLine: () => () => undefined,
  };
  return { calls, power, console, say };
}

test('transition walks off → bootloader → shell → client-ready, calling only protocol methods in order', async (t) => {
  const d = recordingDrivers();
  const stages: string[] = [];
  const s = new BoardStrategy({
    power: d.power,
    console: d.console,
    prompts: { bootloader: /U-Boot/, shell: /sh# /, clientReady: /READY/ },
    timeouts: { bootloaderMs: 1000, shellMs: 1000, clientReadyMs: 1000 },
    onStage: (st) => stages.push(st),
  });
  await s.transition('client-ready');
  t.deepEqual(d.calls, ['power.cut', 'power.on', 'expect U-Boot', 'expect sh# ', 'expect READY']);
  t.deepEqual(stages, ['off', 'bootloader', 'shell', 'client-ready']);
  t.is(s.state, 'client-ready');
  // Already there: nothing to do.
  await s.transition('shell');
  t.is(d.calls.length, 5 + 4, 'going back from client-ready to shell reboots through off');
  t.deepEqual(d.calls.slice(5), ['power.cut', 'power.on', 'expect U-Boot', 'expect sh# ']);
  await s.transition('shell');
  t.is(d.calls.length, 9, 'a transition to the current state is a no-op');
});

test('followBoot waits for the stages without touching power', async (t) => {
  const d = recordingDrivers();
  const s = new BoardStrategy({
    power: d.power,
    console: d.console,
    prompts: { bootloader: /U-Boot/, shell: /sh# /, clientReady: /READY/ },
    timeouts: { bootloaderMs: 1000, shellMs: 1000, clientReadyMs: 1000 },
  });
  setImmediate(() => ['U-Boot 2', 'sh# '].forEach(d.say));
  await s.followBoot('shell');
  t.deepEqual(d.calls, ['expect U-Boot', 'expect sh# ']);
  t.is(s.state, 'shell');
});
