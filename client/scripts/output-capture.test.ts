import test from 'ava';
import { OutputCapture } from './output-capture.js';

function capture(limits = { maxLineChars: 10, maxLines: 3, tailBytes: 8 }) {
  const lines: string[] = [];
  return { lines, cap: new OutputCapture((l) => lines.push(l), limits) };
}

test('splits chunks into lines across chunk boundaries, CRLF trimmed, last line flushed', (t) => {
  const { lines, cap } = capture({ maxLineChars: 100, maxLines: 100, tailBytes: 100 });
  cap.push(Buffer.from('he'));
  cap.push(Buffer.from('llo\r\nwor'));
  cap.push(Buffer.from('ld\nend'));
  cap.end();
  t.deepEqual(lines, ['hello', 'world', 'end']);
});

test('multi-byte characters split between chunks are decoded whole', (t) => {
  const { lines, cap } = capture({ maxLineChars: 100, maxLines: 100, tailBytes: 100 });
  const bytes = Buffer.from('é\n');
  cap.push(bytes.subarray(0, 1));
  cap.push(bytes.subarray(1));
  cap.end();
  t.deepEqual(lines, ['é']);
});

test('long lines are cut, extra lines only counted, the tail keeps the last bytes', (t) => {
  const { lines, cap } = capture();
  cap.push(Buffer.from('0123456789abcdefghij'));
  cap.push(Buffer.from('klmn\nok\n'));
  cap.push(Buffer.from('x\ny\nz\n'));
  cap.end();
  t.deepEqual(lines, ['0123456789… (line cut)', 'ok', 'x', '(2 more lines not logged)']);
  t.is(cap.tail(), 'ok\nx\ny\nz\n'.slice(-8));
});

test('memory stays bounded for a large stream without newlines', (t) => {
  const { lines, cap } = capture({ maxLineChars: 1000, maxLines: 10, tailBytes: 1024 });
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  for (let i = 0; i < 200; i++) cap.push(chunk); // 12.8 MB
  cap.end();
  t.is(lines.length, 1);
  t.is(cap.tail().length, 1024);
  t.is((cap as unknown as { tailLength: number }).tailLength <= 64 * 1024 + 2048, true);
});
