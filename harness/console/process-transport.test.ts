import test from 'ava';
import { ProcessTransport } from './process-transport.js';
import { StreamConsole } from './stream-console.js';

test('a process is a console: stdin is typed into, stdout is read, close kills it', async (t) => {
  const con = new StreamConsole(new ProcessTransport(['cat']));
  await con.open();
  await con.write('hello\n');
  await con.expect(/^hello$/m, 2000);
  await con.close();
  t.deepEqual(con.transcript().map((l) => l.text), ['hello']);
});

test('the process exiting ends the console', async (t) => {
  const con = new StreamConsole(new ProcessTransport(['sh', '-c', 'echo bye']));
  await con.open();
  await t.throwsAsync(con.expect(/never/, 5000), { message: /closed while waiting/ });
  t.deepEqual(con.transcript().map((l) => l.text), ['bye']);
  await con.close();
});

test('a command that cannot start fails clearly', async (t) => {
  t.throws(() => new ProcessTransport([]), { message: /command is required/ });
  await t.throwsAsync(new ProcessTransport(['/nonexistent/flipside-board']).connect(), {
    message: /cannot start console process \/nonexistent\/flipside-board: .*ENOENT/,
  });
});

test('stderr is merged into the console, as on a terminal', async (t) => {
  const con = new StreamConsole(new ProcessTransport(['sh', '-c', 'echo out; echo err >&2; sleep 0.1']));
  await con.open();
  await con.expect(/err/, 2000);
  await con.close();
  t.deepEqual(con.transcript().map((l) => l.text).sort(), ['err', 'out']);
});
