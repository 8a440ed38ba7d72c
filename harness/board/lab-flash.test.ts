// Flashing as board files describe it, without a card: commands with {image}, and the steps that
// need a person refusing to hang when there is none.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flashImage } from './lab-flash.js';

function work(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lab-flash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a string command runs through sh with {image} quoted, so paths with spaces survive', async (t) => {
  const dir = work(t);
  const image = join(dir, 'my card.img');
  writeFileSync(image, 'IMAGE');
  const lines: string[] = [];
  await flashImage({ type: 'command', command: 'cp {image} {out}', vars: { out: join(dir, 'out.img') } }, image, { log: (l) => lines.push(l) });
  t.is(readFileSync(join(dir, 'out.img'), 'utf8'), 'IMAGE');
  t.regex(lines[0]!, /^flash: command wrote .* in \d+\.\d s$/);
});

test('a failing flash command names the command and its stderr', async (t) => {
  const dir = work(t);
  const e = await t.throwsAsync(flashImage({ type: 'command', command: ['sh', '-c', 'echo no card >&2; exit 3'], vars: {} }, join(dir, 'x.img')));
  t.regex(e!.message, /^flash: `sh -c .*` failed \(exit 3\): no card$/);
});

test('manual flashing asks the person, and a card reader that is absent is asked for too', async (t) => {
  const asked: string[] = [];
  await flashImage({ type: 'manual' }, '/tmp/card.img', { ask: async (w) => void asked.push(w) });
  t.regex(asked[0]!, /^Write \/tmp\/card.img to the board's SD card/);
  const e = await t.throwsAsync(flashImage({ type: 'dd', device: '/dev/flipside-no-such-reader' }, '/tmp/card.img', { ask: async (w) => void asked.push(w), deviceWaitMs: 100 }));
  t.regex(asked[1]!, /^Put the board's SD card into the reader \(\/dev\/flipside-no-such-reader\)/);
  t.regex(e!.message, /did not appear within 100 ms/);
});
