import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExternalCommandPower } from './external-command-power.js';

function tempLog(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'power-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'log');
}

test('argv templates run without a shell, in order, with the values filled in', async (t) => {
  const log = tempLog(t);
  const p = new ExternalCommandPower({
    name: 'rpi3',
    on: ['sh', '-c', 'echo "$1 $2" >> "$0"', log, 'relay{channel}', 'on'],
    off: ['sh', '-c', 'echo "$1 $2" >> "$0"', log, 'relay{channel}', 'off'],
    vars: { channel: 3 },
  });
  await p.on();
  await p.cycle(10);
  t.is(readFileSync(log, 'utf8'), 'relay3 on\nrelay3 off\nrelay3 on\n');
});

test('string commands run through the shell', async (t) => {
  const log = tempLog(t);
  const p = new ExternalCommandPower({ name: 'b', on: `echo on-{port} >> ${log}`, off: `echo off-{port} >> ${log}`, vars: { port: 'a b' } });
  await p.cut();
  t.is(readFileSync(log, 'utf8'), 'off-a b\n');
});

test('a failing command reports its exit code and stderr', async (t) => {
  const p = new ExternalCommandPower({ name: 'bbb', on: ['sh', '-c', 'echo no such relay >&2; exit 3'], off: ['true'] });
  await t.throwsAsync(p.on(), { message: 'power bbb: on command `sh -c echo no such relay >&2; exit 3` failed (exit 3): no such relay' });
});

test('a missing program, a hung command and a missing value fail clearly', async (t) => {
  const missing = new ExternalCommandPower({ name: 'x', on: ['/nonexistent/relay'], off: ['true'] });
  await t.throwsAsync(missing.on(), { message: /power x: on command `\/nonexistent\/relay` failed \(.*ENOENT.*\)/ });
  const hung = new ExternalCommandPower({ name: 'x', on: ['true'], off: ['sleep', '5'], timeoutMs: 100 });
  await t.throwsAsync(hung.cut(), { message: /failed \(timed out after 100 ms\)/ });
  t.throws(() => new ExternalCommandPower({ name: 'x', on: ['relay', '{channel}'], off: ['true'] }), {
    message: /uses \{channel\} but no value was given/,
  });
  t.throws(() => new ExternalCommandPower({ name: 'x', on: [], off: ['true'] }), { message: /power x on: empty command/ });
  t.throws(() => new ExternalCommandPower({ name: '', on: ['true'], off: ['true'] }), { message: /needs a name/ });
  await t.throwsAsync(new ExternalCommandPower({ name: 'x', on: ['true'], off: ['true'] }).cycle(-1), { message: /non-negative/ });
});
