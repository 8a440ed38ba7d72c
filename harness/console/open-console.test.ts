import test from 'ava';
import { createConsole, openConsole, transportFor, consoleSpecSchema } from './open-console.js';

test('bad specs fail with the field named', (t) => {
  t.throws(() => createConsole({ type: 'serial' }), { message: /invalid console spec: path: Required/ });
  t.throws(() => createConsole({ type: 'ser2net', port: 70000 }), { message: /port: Number must be less than or equal to 65535/ });
  t.throws(() => createConsole({ type: 'usb' }), { message: /invalid console spec: type: Invalid discriminator value/ });
  t.throws(() => createConsole({ type: 'unix', path: '/x', baud: 9600 }), { message: /Unrecognized key\(s\) in object: 'baud'/ });
  t.throws(() => createConsole({ type: 'serial', path: '/dev/ttyUSB0', charDelayMs: -5 }), { message: /charDelayMs/ });
});

test('each type maps to its transport with board-file defaults', (t) => {
  const tr = (spec: unknown) => transportFor(consoleSpecSchema.parse(spec));
  t.is(tr({ type: 'serial', path: '/dev/ttyUSB0' }).description, 'serial /dev/ttyUSB0@115200');
  t.is(tr({ type: 'serial', path: '/dev/ttyUSB0' }).reconnectIntervalMs, 250);
  t.is(tr({ type: 'ser2net', port: 3001, telnet: true }).description, 'telnet 127.0.0.1:3001');
  t.is(tr({ type: 'ser2net', host: 'lab', port: 3001 }).reconnectIntervalMs, undefined);
  t.is(tr({ type: 'unix', path: '/run/c.sock' }).description, 'unix /run/c.sock');
  t.is(tr({ type: 'process', command: 'cat -u' }).description, 'process cat -u');
});

test('openConsole opens a working console', async (t) => {
  const con = await openConsole({ type: 'process', command: ['cat'], name: 'loop', charDelayMs: 1 });
  t.is(con.name, 'loop');
  await con.write('ok\n');
  await con.expect(/ok\n/, 2000);
  await con.close();
  t.pass();
});
