import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transcript } from './transcript.js';

test('appends timestamped raw lines and notes to the file, keeps a bounded list in memory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'transcript-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'sub', 'console.log');
  const tr = new Transcript(3, path);
  tr.open();
  for (let i = 0; i < 10; i++) tr.add({ t: Date.UTC(2026, 0, 1, 0, 0, i), text: `line ${i}` }, `\x1b[1mline ${i}`);
  tr.note(Date.UTC(2026, 0, 1, 0, 1), 'link lost');
  t.deepEqual(tr.snapshot().map((l) => l.text), ['line 7', 'line 8', 'line 9']);
  await tr.close();
  const file = readFileSync(path, 'utf8').split('\n');
  t.is(file[0], '2026-01-01T00:00:00.000Z    \x1b[1mline 0');
  t.is(file[10], '2026-01-01T00:01:00.000Z -- link lost');
  // A second transcript on the same file appends.
  const again = new Transcript(3, path);
  again.open();
  again.add({ t: 0, text: 'more' });
  await again.close();
  t.is(readFileSync(path, 'utf8').split('\n').length, 13);
});

test('rejects a nonsensical line cap', (t) => {
  t.throws(() => new Transcript(0), { message: /positive integer/ });
});
