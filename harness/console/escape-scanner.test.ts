import test from 'ava';
import { EscapeScanner, stripTerminalEscapes } from './escape-scanner.js';

test('strips CSI sequences including cursor position queries and private modes', (t) => {
  t.is(stripTerminalEscapes('\x1b[6n\x1b[1;32mroot\x1b[0m:~# \x1b[?2004h'), 'root:~# ');
});

test('strips OSC titles ended by BEL or ST, charset selection and two-character escapes', (t) => {
  t.is(stripTerminalEscapes('\x1b]0;title\x07a\x1b]2;t\x1b\\b\x1b(Bc\x1b7d\x1bce'), 'abcde');
});

test('hides stray control characters but keeps tab, CR and LF', (t) => {
  t.is(stripTerminalEscapes('a\x00b\x07c\td\r\n'), 'abc\td\r\n');
});

test('a sequence split across chunks is still recognised', (t) => {
  const s = new EscapeScanner();
  const hidden = [...'x\x1b[1', ';3', '2my'].join('').split('').map((c) => s.consume(c.charCodeAt(0)));
  t.deepEqual(hidden, [false, true, true, true, true, true, true, true, false]);
});

test('a newline aborts a garbled CSI instead of swallowing text', (t) => {
  t.is(stripTerminalEscapes('\x1b[12\nnext'), '\nnext');
});

test('an unterminated OSC string gives up after a bounded length', (t) => {
  const junk = '\x1b]' + 'x'.repeat(300);
  t.is(stripTerminalEscapes(junk + 'visible'), 'x'.repeat(300 - 255) + 'visible');
});
