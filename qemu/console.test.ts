import test from 'ava';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleTimeoutError, SocketConsole, cleanConsoleText } from './console.js';
import { ConsoleShell, parseEnvLines } from './guest-shell.js';

/** A fake serial line: what the "guest" sends, and a tiny shell that runs `echo` lines. */
async function fakeSerial(): Promise<{ path: string; send: (s: string) => void; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'fs-con-'));
  const path = join(dir, 'console.sock');
  let peer: Socket | null = null;
  const server = createServer((s) => {
    peer = s;
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // Echo the typed line like a tty, then "run" it: each `echo "A""B"` prints AB; `fail` sets $?.
        s.write(`${line}\r\n`);
        let status = 0;
        for (const part of line.split(';').map((p) => p.trim())) {
          if (part === 'fail') status = 3;
          else if (part.startsWith('echo ')) s.write(`${part.slice(5).replace(/"/g, '').replace('$?', String(status))}\r\n`);
          else if (part === 'env') s.write('a=1\r\n\x1b[6nb=x=y\r\n');
        }
        s.write('# ');
      }
    });
  });
  server.unref();
  await new Promise<void>((r) => server.listen(path, r));
  return { path, dir, send: (s) => peer?.write(s) };
}

test('control sequences and CRs never reach expect() or the transcript', (t) => {
  t.is(cleanConsoleText('flipside-shell# \x1b[6nls\r\n'), 'flipside-shell# ls\n');
});

test('expect consumes output; lines are stamped and written to the transcript file', async (t) => {
  const f = await fakeSerial();
  const c = new SocketConsole('test', f.path, join(f.dir, 'log'));
  await c.open(2000);
  const lines: string[] = [];
  c.onLine((l) => lines.push(l.text));
  f.send('U-Boot 2023.01\r\nboot');
  f.send('ing\r\nprompt# ');
  t.is((await c.expect(/U-Boot (\d+)/, 2000))[1], '2023');
  await c.expect(/prompt# /, 2000);
  // Already consumed: a second expect for the same text must wait for new output.
  await t.throwsAsync(c.expect(/U-Boot/, 200), { instanceOf: ConsoleTimeoutError });
  t.deepEqual(lines, ['U-Boot 2023.01', 'booting']);
  t.true(c.transcript().every((l) => typeof l.t === 'number'));
  t.regex(readFileSync(join(f.dir, 'log'), 'utf8'), /^\[ *\d+\.\d{3}\] booting$/m);
  await c.close();
});

test('ConsoleShell returns output between markers and the exit status', async (t) => {
  const f = await fakeSerial();
  const c = new SocketConsole('test', f.path, join(f.dir, 'log'));
  await c.open(2000);
  const sh = new ConsoleShell(c, 2000);
  const r = await sh.run('env');
  t.deepEqual(parseEnvLines(r.stdout), { a: '1', b: 'x=y' });
  t.is(r.code, 0);
  t.is((await sh.run('fail')).code, 3);
  await c.close();
});
