// A shell on plain pipes (no `script` on the device) gets Enter as a terminal sends it, CR, and
// runs the line, as a tty's ICRNL would have it.
import test from 'ava';
import { ShellSession, crToLf } from './shell.js';
import { PROTO, SHELL } from '../../connect-protocol/protocol.js';

test('crToLf: CR and CR LF become LF; other bytes stay', (t) => {
  const s = (x: string) => Buffer.from(crToLf(Buffer.from(x))).toString();
  t.is(s('ls\r'), 'ls\n');
  t.is(s('a\r\nb\rc\n'), 'a\nb\nc\n');
  t.is(s('plain'), 'plain');
});

test('a shell on pipes runs a line ended by the Enter key (CR)', async (t) => {
  let out = '';
  let onOut: (() => void) | null = null;
  const shell = new ShellSession((m) => {
    if (m.hdr.typ === SHELL.data && m.body) out += Buffer.from(m.body).toString();
    onOut?.();
  }, { command: '/bin/sh', pty: 'pipe' }, () => undefined);
  t.teardown(() => shell.stop());
  const started = new Promise<void>((r) => (onOut = r));
  shell.start({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { terminal_width: 80, terminal_height: 24 } } });
  await started;
  const seen = new Promise<void>((r) => (onOut = () => /cr-2/.test(out) && r()));
  shell.input(Buffer.from('echo "cr-$((1+1))"\r'));
  await seen;
  t.regex(out, /cr-2/);
});
