import test from 'ava';
import { extractStdout, markCommand } from './markers.js';

test('the typed line never contains the joined markers it waits for', (t) => {
  const m = markCommand('ls /');
  t.false(m.start.test(m.line + '\n'));
  t.false(m.end.test(m.line + '\n'));
  t.regex(m.line, /^echo '(FS[0-9a-f]{6})''([0-9a-f]{6})S'; ls \/; echo '\1''\2E'\$\?$/);
});

test('markers differ between commands', (t) => {
  t.not(markCommand('true').start.source, markCommand('true').start.source);
});

test('end marker captures output and exit code, also when output lacks a final newline', (t) => {
  const m = markCommand('printf x');
  const marker = m.start.source.slice(0, 14);
  t.deepEqual([...m.end.exec(`x${marker}E3\n`)!].slice(1), ['x', '3']);
  t.deepEqual([...m.end.exec(`a\nb\n${marker}E0\n`)!].slice(1), ['a\nb\n', '0']);
});

test('multi-line commands, trailing comments and background jobs are refused', (t) => {
  t.throws(() => markCommand('a\nb'), { message: /must be one line/ });
  t.throws(() => markCommand('ls # list'), { message: /ends in a comment/ });
  t.throws(() => markCommand('sleep 9 &'), { message: /ends in &/ });
  t.throws(() => markCommand('  '), { message: /empty/ });
  t.notThrows(() => markCommand('a && b'));
  t.notThrows(() => markCommand("echo '#'"));
});

test('stdout drops kernel messages, whole lines and ones cutting into a line', (t) => {
  t.is(extractStdout('1\n[    3.141592] usb 1-1: new device\n2\n3[   12.000001] EXT4-fs mounted\n4\n', true), '1\n2\n34');
  t.is(extractStdout('[    3.141592] kept\n', false), '[    3.141592] kept');
  t.is(extractStdout('a\r\n', true), 'a');
});

test('a kernel message cutting in right after a marker does not hide it', (t) => {
  const m = markCommand('true');
  const marker = m.start.source.slice(0, 14);
  t.true(m.start.test(`${marker}S[   5.000000] usb 1-1: reset\n`));
  t.deepEqual([...m.end.exec(`out\n${marker}E0[   5.000000] usb 1-1: reset\n`)!].slice(1), ['out\n', '0']);
});
