import test from 'ava';
import { createEnvBlock, hasSignature, listVars, setVar, unsetVar, checkGrubVariable } from './grub-env-block.js';
import { EnvError } from './types.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const vars = (buf: Buffer) => listVars(buf).map(([k, v]) => `${k.toString('latin1')}=${v.toString('latin1')}`);

test('a new block is the header, the warning line and # padding', (t) => {
  const blk = createEnvBlock();
  t.is(blk.length, 1024);
  t.true(hasSignature(blk));
  t.true(blk.toString('latin1').startsWith('# GRUB Environment Block\n# WARNING: '));
  t.true(blk.subarray(100).every((x) => x === 0x23));
  t.deepEqual(listVars(blk), []);
});

test('set appends, replaces in place (shorter and longer), unset pads the end', (t) => {
  const blk = createEnvBlock(256);
  t.true(setVar(blk, b('a'), b('1')));
  t.true(setVar(blk, b('b'), b('2')));
  t.true(setVar(blk, b('a'), b('longer')));
  t.deepEqual(vars(blk), ['a=longer', 'b=2']);
  t.true(setVar(blk, b('a'), b('')));
  t.deepEqual(vars(blk), ['a=', 'b=2']);
  unsetVar(blk, b('a'));
  t.deepEqual(vars(blk), ['b=2']);
  t.is(blk.length, 256);
  t.true(blk.toString('latin1').endsWith('b=2\n' + '#'.repeat(256 - blk.toString('latin1').indexOf('b=2\n') - 4)));
});

test('backslashes and newlines in values are escaped and read back', (t) => {
  const blk = createEnvBlock(256);
  t.true(setVar(blk, b('p'), b('a\\b\nc')));
  t.true(blk.toString('latin1').includes('p=a\\\\b\\\nc\n'));
  t.deepEqual(vars(blk), ['p=a\\b\nc']);
});

test('no room: set returns false and leaves the block untouched', (t) => {
  const blk = createEnvBlock(100);
  const before = Buffer.from(blk);
  t.false(setVar(blk, b('k'), b('x'.repeat(100))));
  t.deepEqual(blk, before);
});

test('a block without a newline before the padding is broken', (t) => {
  const blk = createEnvBlock(256);
  blk.write('x=1', blk.length - 40, 'latin1'); // text not ended by a newline
  t.throws(() => setVar(blk, b('a'), b('1')), { instanceOf: EnvError, message: /broken/ });
});

test('names GRUB cannot hold are refused', (t) => {
  for (const name of ['', 'a=b', 'a\nb', 'a\\b', '#x', 'a\0']) {
    const err = t.throws(() => checkGrubVariable(name, 'v'), { instanceOf: EnvError });
    t.is(err!.code, 'BAD_VARIABLE');
  }
  t.throws(() => checkGrubVariable('ok', 'a\0b'), { instanceOf: EnvError });
  t.notThrows(() => checkGrubVariable('ok', 'any = value\nwith lines'));
});
