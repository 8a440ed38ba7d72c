import test from 'ava';
import { LineParser } from './line-parser.js';

const texts = (p: LineParser, ...chunks: string[]) => chunks.flatMap((c) => p.feed(c).lines.map((l) => l.text));

test('\\r\\n, \\n, \\r\\r\\n and \\n\\r each end one line', (t) => {
  t.deepEqual(texts(new LineParser(), 'a\r\nb\nc\r\r\nd\n\re\r\n'), ['a', 'b', 'c', 'd', 'e']);
});

test('blank lines survive with \\r\\n endings', (t) => {
  t.deepEqual(texts(new LineParser(), 'a\r\n\r\nb\r\n'), ['a', '', 'b']);
});

test('a bare \\r ends a line (progress output)', (t) => {
  t.deepEqual(texts(new LineParser(), '10%\r20%\rdone\n'), ['10%', '20%', 'done']);
});

test('line endings split across chunks are not doubled', (t) => {
  t.deepEqual(texts(new LineParser(), 'a\r', '\nb\r', '\r', '\nc'), ['a', 'b']);
});

test('escapes are removed from text but kept in raw, and the flat text has normalised newlines', (t) => {
  const p = new LineParser();
  const r = p.feed('\x1b[1mbold\x1b[0m\r\nprompt# ');
  t.deepEqual(r.lines, [{ text: 'bold', raw: '\x1b[1mbold\x1b[0m' }]);
  t.is(r.text, 'bold\nprompt# ');
  t.deepEqual(p.partial, { text: 'prompt# ', raw: 'prompt# ' });
});

test('an endless line is split at the cap', (t) => {
  const p = new LineParser(10);
  t.deepEqual(texts(p, 'x'.repeat(25)), ['x'.repeat(10), 'x'.repeat(10)]);
  t.deepEqual(p.flush(), { text: 'xxxxx', raw: 'xxxxx' });
  t.is(p.flush(), null);
});
