import test from 'ava';
import { PassThrough } from 'node:stream';
import { ManualPower } from './manual-power.js';

test('prompts and waits for Enter', async (t) => {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = '';
  output.on('data', (d) => (shown += d));
  const p = new ManualPower({ name: 'bbb', input, output, allowNonTty: true });
  let done = false;
  const cut = p.cut().then(() => (done = true));
  await new Promise((r) => setTimeout(r, 30));
  t.false(done, 'still waiting for the operator');
  t.regex(shown, />>> Switch OFF \(pull the plug\) board bbb, then press Enter: $/);
  input.write('\n');
  await cut;
  const on = p.on();
  setTimeout(() => input.write('\n'), 5);
  await on;
  t.regex(shown, /Switch ON board bbb/);
});

test('without a TTY it fails at once instead of hanging', async (t) => {
  const p = new ManualPower({ name: 'bbb', input: new PassThrough(), output: new PassThrough() });
  await t.throwsAsync(p.on(), { message: /power bbb: manual power needs someone at a terminal .* input is not a TTY/ });
});

test('input that ends before Enter is an error', async (t) => {
  const input = new PassThrough();
  const p = new ManualPower({ name: 'bbb', input, output: new PassThrough(), allowNonTty: true });
  const on = p.on();
  input.end();
  await t.throwsAsync(on, { message: 'power bbb: input ended before Enter was pressed' });
});
