import test from 'ava';
import { ConsoleClosedError, ExpectBuffer, ExpectTimeoutError } from './expect-buffer.js';

test('a match consumes text up to its end; the next expect sees only what follows', async (t) => {
  const b = new ExpectBuffer('t');
  b.append('one two three');
  t.is((await b.expect(/two/, 100))[0], 'two');
  t.is(b.pending, ' three');
  await t.throwsAsync(b.expect(/one/, 30), { instanceOf: ExpectTimeoutError });
});

test('resolves when matching text arrives later, groups included', async (t) => {
  const b = new ExpectBuffer('t');
  const p = b.expect(/code=(\d+)/, 1000);
  setTimeout(() => b.append('code='), 5);
  setTimeout(() => b.append('42\n'), 10);
  t.is((await p)[1], '42');
});

test('a timeout names the console, the pattern and the last output', async (t) => {
  const b = new ExpectBuffer('dut');
  b.append('booting...');
  const e = await t.throwsAsync(b.expect(/login:/, 20));
  t.regex(e!.message, /console dut: \/login:\/ not seen within 20 ms; last output: "booting\.\.\."/);
});

test('global regexes do not carry lastIndex between calls', async (t) => {
  const b = new ExpectBuffer('t');
  const re = /x/g;
  b.append('x');
  await b.expect(re, 10);
  b.append('x');
  await t.notThrowsAsync(b.expect(re, 10));
});

test('memory is bounded: only the newest maxChars are kept', (t) => {
  const b = new ExpectBuffer('t', 2048);
  for (let i = 0; i < 1000; i++) b.append('y'.repeat(100));
  b.append('END');
  t.true(b.pending.length >= 2048 && b.pending.length <= 2560, `kept ${b.pending.length}`);
  t.true(b.pending.endsWith('END'));
});

test('concurrent expects and bad arguments are refused clearly; close rejects the waiter', async (t) => {
  const b = new ExpectBuffer('t');
  const first = b.expect(/never/, 1000);
  await t.throwsAsync(b.expect(/other/, 10), { message: /still waiting/ });
  t.throws(() => b.expect('x' as unknown as RegExp, 10), { message: /needs a RegExp/ });
  t.throws(() => b.expect(/x/, -1), { message: /non-negative/ });
  b.close();
  await t.throwsAsync(first, { instanceOf: ConsoleClosedError });
  t.throws(() => new ExpectBuffer('t', 10), { message: />= 1024/ });
});
