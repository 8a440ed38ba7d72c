import test from 'ava';
import { StageTimeout } from './board-strategy.js';
import { LinkStageError, LinkStrategy, NeedsBootConsole, NoLinkYet, type ConnectLinks } from './link-strategy.js';
import type { Power } from '../types.js';

/**
 * A device as its server sees it: each boot is a new connection (ids grow), a power cut or a
 * reboot leaves the old one registered until the server notices. `next` answers from these
 * events alone: a device that will not connect again is refused at once, no clock involved.
 */
function fakeDevice(o: { bricked?: boolean; refused?: boolean } = {}) {
  const calls: string[] = [];
  let conn = 0;
  let booting = false;
  const waiters: Array<() => void> = [];
  const boot = () => {
    booting = true;
    setImmediate(() => {
      booting = false;
      if (!o.bricked) conn++;
      waiters.splice(0).forEach((w) => w());
    });
  };
  const power: Power = {
    name: 'fake',
    on: async () => {
      calls.push('power.on');
      boot();
    },
    cut: async () => void calls.push('power.cut'),
    cycle: async () => void calls.push('power.cycle'),
  };
  const links: ConnectLinks = {
    next: async (after, ms) => {
      calls.push(`next after ${after}`);
      for (;;) {
        if (conn > 0 && (after === null || conn > after)) return conn;
        if (o.refused) throw new Error('the server refused the token (401)');
        if (!booting) throw new NoLinkYet(`no new link within ${ms} ms`);
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
  const strategy = new LinkStrategy({
    board: 'netonly',
    power,
    links,
    openShell: async () => void calls.push(`openShell on ${conn}`),
    closeShell: async () => void calls.push('closeShell'),
    timeouts: { shellMs: 90_000 },
    lastLines: () => ['U-Boot 2023.01', 'flipside: init done'],
  });
  return { calls, strategy, reboot: boot };
}

test('boot: power cut first, power on, then the shell on the first link', async (t) => {
  const d = fakeDevice();
  await d.strategy.transition('shell');
  t.is(d.strategy.state, 'shell');
  t.deepEqual(d.calls, ['power.cut', 'closeShell', 'power.on', 'next after null', 'openShell on 1']);
  d.calls.length = 0;
  await d.strategy.transition('shell');
  t.deepEqual(d.calls, [], 'already at the shell: nothing to do');
});

test('a reboot from the shell waits for a newer link and keeps the old session until then', async (t) => {
  const d = fakeDevice();
  await d.strategy.transition('shell');
  d.calls.length = 0;
  d.reboot();
  await d.strategy.followBoot('shell');
  t.is(d.strategy.state, 'shell');
  // No closeShell before the new link: ending the session could kill the `reboot` typed into it.
  t.deepEqual(d.calls, ['next after 1', 'openShell on 2']);
});

test('after a power cut the next boot is a new link, not the one the server still shows', async (t) => {
  const d = fakeDevice();
  await d.strategy.transition('shell');
  d.strategy.poweredOff();
  t.is(d.strategy.state, 'off');
  d.calls.length = 0;
  await d.strategy.transition('shell');
  t.deepEqual(d.calls, ['power.on', 'next after 1', 'openShell on 2']);
});

test("a device that never connects fails as stage 'shell', with what it printed last", async (t) => {
  const d = fakeDevice({ bricked: true });
  const e = await t.throwsAsync(d.strategy.transition('shell'), { instanceOf: StageTimeout });
  t.is(e!.stage, 'shell');
  t.is(e!.timeoutMs, 90_000, "the board file's shell deadline");
  t.regex(e!.message, /deviceconnect link/);
  t.true(e!.message.includes('flipside: init done'));
  t.is(d.strategy.state, 'unknown');
  t.false(d.calls.some((c) => c.startsWith('openShell')));
});

for (const stage of ['bootloader', 'client-ready'] as const) {
  test(`stage '${stage}' needs a console from power-on: refused before touching the power`, async (t) => {
    const d = fakeDevice();
    const e = await t.throwsAsync(d.strategy.transition(stage), { instanceOf: NeedsBootConsole });
    t.regex(e!.message, new RegExp(`stage '${stage}' needs a console from power-on`));
    t.deepEqual(d.calls, []);
    await t.throwsAsync(d.strategy.followBoot(stage), { instanceOf: NeedsBootConsole });
  });
}

test('off: the power goes first, then the session', async (t) => {
  const d = fakeDevice();
  await d.strategy.transition('shell');
  d.calls.length = 0;
  await d.strategy.transition('off');
  t.is(d.strategy.state, 'off');
  t.deepEqual(d.calls, ['power.cut', 'closeShell']);
});

test('a link the server refuses to show (a wrong token) fails at once as that, naming the stage, not as a hang', async (t) => {
  const d = fakeDevice({ refused: true });
  const e = await t.throwsAsync(d.strategy.transition('shell'), { instanceOf: LinkStageError });
  t.is(e!.stage, 'shell');
  t.regex(e!.message, /^stage 'shell' \(waiting for the device's deviceconnect link\): the server refused the token \(401\)/);
  t.is(d.strategy.state, 'unknown');
});
