// Debian's mender-connect 2.1.0 as the device side against flipside-server, with its token from
// the real mender 3.4.0 daemon over D-Bus (io.mender.AuthenticationManager) on a private bus of
// our own: mender-cli 1.9.0 then runs a command in a terminal on it and copies a file both ways.
// Both daemons read /etc/mender, /var/lib/mender and /usr/share/mender at fixed paths, so they run
// in a mount namespace (`unshare -m`) with bind mounts over those; the machine's files are never
// touched. Skipped, not passed, where a peer, unshare, dbus-daemon or root is missing.
import test, { type ExecutionContext } from 'ava';
import { execa, type ResultPromise } from 'execa';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startTestServer, acceptDevice, ADMIN } from './testing/fixtures.js';
import { findPeer } from '../test-support/mender-peers.js';

const PEERS = ['mender', 'mender-connect', 'mender-cli', 'unshare', 'dbus-daemon', 'mount'] as const;
const found = Object.fromEntries(PEERS.map((p) => [p, findPeer(p)])) as Record<(typeof PEERS)[number], string | null>;
const missingPeers = PEERS.filter((p) => !found[p]);
const isRoot = process.getuid?.() === 0;
const why = missingPeers.length ? `${missingPeers.join(', ')} not installed` : !isRoot ? 'not root (a mount namespace needs it)' : '';
const run = why ? test.skip : test.serial;
const suffix = why ? ` (skipped: ${why})` : '';

const MAC = '52:54:00:c0:nn:ec'.replace('nn', '4e');

/** Polls a peer-driven condition (the peers log, they do not signal us); fails after `limitMs`. */
async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, limitMs = 60_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A child of `pid` (the shell) sleeping in select/poll, as readline does when it waits for input. */
function shellWaiting(pid: number): boolean {
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) {
        if (/poll|select/.test(readFileSync(`/proc/${child}/wchan`, 'utf8'))) return true;
      }
    }
  } catch {
    return false;
  }
  return false;
}

function tree(root: string, url: string): void {
  for (const d of ['etc-mender', 'var-lib/mender', 'share-mender/identity', 'share-mender/inventory', 'files']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc-mender/mender.conf'), JSON.stringify({ ServerURL: url, UpdatePollIntervalSeconds: 5, InventoryPollIntervalSeconds: 5, RetryPollIntervalSeconds: 1, DBus: { Enabled: true } }));
  writeFileSync(join(root, 'etc-mender/mender-connect.conf'), JSON.stringify({ ShellCommand: '/bin/bash', User: 'root' }));
  writeFileSync(join(root, 'etc-mender/artifact_info'), 'artifact_name=connect-host-1\n');
  writeFileSync(join(root, 'var-lib/mender/device_type'), 'device_type=connect-host\n');
  writeFileSync(join(root, 'share-mender/identity/mender-device-identity'), `#!/bin/sh\necho mac=${MAC}\n`);
  chmodSync(join(root, 'share-mender/identity/mender-device-identity'), 0o755);
  // A system bus of our own: the Mender policy files want the machine's bus; this one allows all.
  writeFileSync(
    join(root, 'bus.conf'),
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${join(root, 'bus')}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/><allow user="*"/></policy></busconfig>`,
  );
}

function inNamespace(root: string, command: string, env: NodeJS.ProcessEnv): ResultPromise {
  const mounts = [`${found.mount} --bind ${join(root, 'etc-mender')} /etc/mender`, `${found.mount} --bind ${join(root, 'var-lib')} /var/lib`, `${found.mount} --bind ${join(root, 'share-mender')} /usr/share/mender`].join(' && ');
  return execa(found.unshare!, ['-m', '--propagation', 'private', 'sh', '-c', `${mounts} && exec ${command}`], { env, extendEnv: false, reject: false, all: true, stdin: 'ignore' });
}

run(`mender-connect 2.1.0 (token from mender 3.4.0 over D-Bus): mender-cli terminal and cp against it${suffix}`, async (t: ExecutionContext) => {
  // Room for two more terminal sessions if mender-connect stalls (below).
  t.timeout(300_000);
  const s = await startTestServer();
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
  const root = mkdtempSync(join(tmpdir(), 'flipside-mender-connect-'));
  tree(root, url);
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: root, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(root, 'bus')}` };
  const procs: ResultPromise[] = [];
  t.teardown(async () => {
    for (const p of procs.reverse()) {
      p.kill('SIGTERM');
      await p;
    }
    await s.close();
    if (t.passed) rmSync(root, { recursive: true, force: true });
    else t.log(`tree kept at ${root}`);
  });
  const bus = execa(found['dbus-daemon']!, ['--config-file', join(root, 'bus.conf'), '--nofork', '--print-address'], { reject: false });
  procs.push(bus);
  await new Promise<void>((resolve) => bus.stdout!.once('data', () => resolve()));
  const mender = inNamespace(root, `${found.mender} --no-syslog --log-file ${join(root, 'mender.log')} --log-level info daemon`, env);
  procs.push(mender);
  await until('mender to ask for authorization', async () => (await s.app.flipside.store.listDevices({ status: 'pending', limit: 10, offset: 0 })).length > 0);
  const deviceId = await acceptDevice(s, { mac: MAC });
  const connect = inNamespace(root, `${found['mender-connect']} daemon`, env);
  procs.push(connect);
  await until('mender-connect to connect (it asks mender for the token over D-Bus)', () => !!s.app.flipside.connect.link(deviceId));
  t.log('mender-connect connected with the token it got from mender over D-Bus');

  const cliEnv = { PATH: env.PATH, HOME: root };
  const cli = (args: string[], input?: string) => execa(found['mender-cli']!, [...args, '--server', url], { env: cliEnv, extendEnv: false, reject: false, cwd: root, all: true, timeout: 60_000, ...(input !== undefined ? { input } : { stdin: 'ignore' as const }) });
  t.is((await cli(['login', '--username', ADMIN.email, '--password', ADMIN.password])).exitCode, 0);
  // Piped input all at once raced the session: mender-cli ends it at stdin's EOF, and what it
  // sent before mender-connect's shell was up is lost. So the command goes again every 2 s until
  // its output comes back, and only then `exit` and EOF.
  // A finding: about one session in ten, opened within a second of mender-connect 2.1.0
  // connecting, its shell (`bash --login`) starts and waits for input on its terminal, but nothing
  // passes either way (not the prompt to us, not our input to it) until the session is closed,
  // when the shell is left unreaped. A user would open another session, and so does this test,
  // twice at most: when the shell waits for input and nothing at all came back 20 s after our input.
  let term: Awaited<ReturnType<typeof cli>> | undefined;
  for (let attempt = 1; !term; attempt++) {
    const session = execa(found['mender-cli']!, ['terminal', deviceId, '--server', url], { env: cliEnv, extendEnv: false, reject: false, cwd: root, all: true, timeout: 60_000, stdin: 'pipe' });
    let shown = '';
    session.all!.on('data', (d: Buffer) => { shown += String(d); });
    // mender-cli's own lines end at "Connecting to the device <id>..."; the rest is the shell's.
    const fromShell = () => shown.split(/Connecting to the device [^\n]*\n/)[1] ?? '';
    const send = () => session.stdin!.write('echo "via-mender-connect-$((6*7))"\n');
    await until('the shell to wait for input', () => shellWaiting(connect.pid!) || session.exitCode !== null);
    send();
    const sentAt = Date.now();
    const again = setInterval(send, 2000);
    const outcome = await until('the command\'s output in mender-cli terminal', () => {
      if (/via-mender-connect-42/.test(shown)) return 'output';
      if (session.exitCode !== null) return 'ended';
      return attempt < 3 && !fromShell() && Date.now() - sentAt > 20_000 && shellWaiting(connect.pid!) ? 'stalled' : false;
    }).finally(() => clearInterval(again));
    if (outcome === 'stalled') {
      t.log(`session ${attempt}: the shell waits for input, and nothing passed in 20 s (mender-connect's stall): a new session`);
      session.kill('SIGTERM');
      await session;
      continue;
    }
    session.stdin!.end('exit\n');
    term = await session;
  }
  t.log(`terminal: exit ${term.exitCode}, output ${JSON.stringify(String(term.all).slice(-200))}`);
  if (!/via-mender-connect-42/.test(String(term.all))) {
    t.log(`mender-connect's children:\n${(await execa('ps', ['-o', 'pid,stat,wchan:32,etimes,cmd', '--ppid', String(connect.pid)], { reject: false })).stdout}`);
    connect.kill('SIGTERM');
    t.log(`mender-connect said:\n${String((await connect).all).split('\n').slice(-25).join('\n')}`);
  }
  t.is(term.exitCode, 0);
  t.regex(String(term.all), /via-mender-connect-42/);

  const src = join(root, 'files', 'src.bin');
  const content = Buffer.alloc(300_000, 'flipside ');
  writeFileSync(src, content);
  const dst = join(root, 'files', 'on-device.bin');
  const up = await cli(['cp', src, `${deviceId}:${dst}`]);
  if (up.exitCode !== 0) {
    connect.kill('SIGTERM');
    t.log(String((await connect).all).split('\n').slice(-15).join('\n'));
  }
  t.is(up.exitCode, 0, String(up.all));
  // mender-connect acknowledges the end of the file just before it renames it into place.
  await until('the uploaded file', () => existsSync(dst));
  t.true(readFileSync(dst).equals(content));
  const back = join(root, 'files', 'back.bin');
  const down = await cli(['cp', `${deviceId}:${dst}`, back]);
  t.is(down.exitCode, 0, String(down.all));
  t.true(readFileSync(back).equals(content));
});
