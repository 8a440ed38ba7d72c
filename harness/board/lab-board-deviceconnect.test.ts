// A lab board whose only console is a shell through a server the user runs, end to end on the
// host: a listening flipside-server, the Flipside daemon as the device (switched by a real `command`
// power driver, net-lab.fake.ts), and a board file naming the server, the device by identity and
// where the token is. The board boots to a shell once the device connects, runs commands there,
// comes back after a power cut, serves `flipside-lab console` and a scenario; a device that never
// connects, a wrong token, a device not accepted and a link lost mid-command each fail as that.
// CI cost (runs in the ava step): 16.5 s CPU (11.5 user + 5.0 sys), 65 s wall for the file alone
// with the host at load average 25-28 on 2 cores (`node -e 0` 0.9 s there, 0.087 s idle).
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadBoardFile } from '../../boards/load.js';
import { run } from '../../qemu/image/exec.js';
import { consoleCommand } from '../cli.js';
import { defineScenario } from '../scenario/define.js';
import { runScenarios } from '../scenario/runner.js';
import { StageTimeout } from '../strategy/board-strategy.js';
import { LinkStageError } from '../strategy/link-strategy.js';
import { LabBoard } from './lab-board.js';
import { fakeImages } from './lab-images.fake.js';
import { LinkLostError } from './link-shell.js';
import { NetLab, type NetLabOptions } from './net-lab.fake.js';
import type { ExecutionContext } from 'ava';

const MiB = 2 ** 20;
let macs = 0x70;

/** A bench, its board file (console keys from `console`, the token in a fresh env var unless given) and a work folder. */
async function bench(t: ExecutionContext, o: NetLabOptions & { console?: Record<string, unknown>; token?: string; accept?: boolean; stageMs?: number } = {}) {
  const lab = new NetLab(`02:00:00:00:00:${(macs++).toString(16)}`, o);
  await lab.start();
  const work = mkdtempSync(join(tmpdir(), 'lab-board-dc-'));
  t.teardown(async () => {
    await lab.stop();
    rmSync(work, { recursive: true, force: true });
  });
  const deviceId = o.accept === false ? null : await lab.acceptOnce();
  const tokenEnv = `FLIPSIDE_TEST_NETLAB_TOKEN_${lab.mac.replace(/:/g, '')}`;
  process.env[tokenEnv] = o.token ?? lab.adminToken;
  t.teardown(() => delete process.env[tokenEnv]);
  const flashed = join(work, 'flashed.img');
  const path = lab.boardFile(flashed, { identity: { mac: lab.mac }, tokenEnv, ...o.console }, `netlab-${lab.mac.replace(/:/g, '')}`, o.stageMs);
  const file = await loadBoardFile(path);
  const board = LabBoard.open(file, { buildImages: () => fakeImages(work), linkPollMs: 50 });
  t.teardown(() => board.release());
  return { lab, work, path, board, deviceId, flashed, tokenEnv };
}

/** `flipside-lab console --board <path>` with a scripted terminal: types `command`, waits for `re`, leaves with Ctrl-]. */
async function consoleRuns(path: string, command: string, re: RegExp): Promise<number> {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = '';
  const saw = new Promise<void>((resolve) =>
    output.on('data', (d: Buffer) => {
      shown += d.toString('utf8');
      if (re.test(shown)) resolve();
    }),
  );
  const exit = consoleCommand(path, { input, output });
  input.write(`${command}\r`);
  await Promise.race([saw, exit]);
  input.write(Buffer.from([0x1d]));
  return exit;
}

test('boots to a shell once the device connects, runs commands, comes back after a power cut, and serves `flipside-lab console`', async (t) => {
  const b = await bench(t);
  t.deepEqual([...b.board.capabilities], ['power', 'console', 'shell', 'exact-cuts', 'bytes-written'], 'no boot-console through the server');
  await b.board.prepare(() => undefined);
  const runDir = join(b.work, 'scenario-1');
  await b.board.reset({ runDir, dataFiles: { '/data/canary': { content: Buffer.from('canary-7') } } });
  // The card carries the connect daemon's config for the user's server and the board's kept key.
  const cat = (f: string) => run('debugfs', ['-R', `cat ${f}`, `${b.flashed}?offset=${4 * MiB}`]);
  t.is(await cat('/canary'), 'canary-7');
  const conf = JSON.parse(await cat('/flipside-connect/flipside.conf')) as Record<string, unknown>;
  t.is(conf.ServerURL, b.lab.url);
  t.deepEqual(conf.Connect, { Enabled: true });
  t.regex(await cat('/flipside-connect/mender-agent.pem'), /^-----BEGIN PRIVATE KEY-----/);

  await b.board.strategy.transition('shell');
  t.is(b.lab.powerOns, 1);
  const r = await b.board.caps.shell.run('echo "dc-$((6*7))"; (exit 3)');
  t.deepEqual(r, { stdout: 'dc-42', code: 3 });

  // A second session beside the harness's: the CLI finds the device by its identity.
  t.is(await consoleRuns(b.path, 'echo "cli-$((5*5))"', /cli-25/), 0);

  // A power cut: the next boot is a new connection, not the one the server may still show.
  await b.board.caps.power.cut();
  b.board.strategy.poweredOff();
  await b.board.strategy.transition('shell');
  t.is(b.lab.powerOns, 2);
  t.is((await b.board.caps.shell.run('echo again')).stdout, 'again');

  const logs = await b.board.release();
  t.deepEqual(logs, [join(runDir, 'shell.log')]);
  t.regex(readFileSync(logs[0]!, 'utf8'), /dc-42/);
});

test('scenarios run through the server; one that needs the console from power-on is skipped', async (t) => {
  const b = await bench(t);
  const steps = defineScenario({
    name: 'dc-steps',
    purpose: 'a command, a power cut, a command again: through the server only',
    needs: ['power', 'console', 'shell'],
    async run(ctx) {
      await ctx.boot();
      const r = await ctx.sh('echo "step-$((2+3))"');
      await ctx.check('the step ran on the device', () => r.stdout === 'step-5' || JSON.stringify(r));
      await ctx.powerCut();
      await ctx.boot();
      await ctx.check('the device is back after the cut', async () => (await ctx.sh('echo back')).stdout === 'back');
    },
  });
  const bootConsole = defineScenario({ name: 'dc-needs-boot-console', purpose: 'stops U-Boot', needs: ['boot-console'], run: async () => undefined });
  const reports = join(b.work, 'reports');
  const r = await runScenarios({ scenarios: [steps, bootConsole], board: b.board, seed: 1, reportsDir: reports, workDir: join(b.work, 'runs'), invariants: false });
  t.deepEqual(
    r.results.map((x) => [x.scenario, x.status, x.failure?.message]),
    [
      ['dc-steps', 'passed', undefined],
      ['dc-needs-boot-console', 'skipped', `${b.board.name} lacks boot-console`],
    ],
  );
  t.is(b.lab.powerOns, 2);
});

test("a device that never connects fails at the board file's deadline as stage 'shell'", async (t) => {
  const b = await bench(t, { bricked: true, stageMs: 1000 });
  await b.board.prepare(() => undefined);
  await b.board.reset({ runDir: join(b.work, 's1'), dataFiles: {} });
  const e = await t.throwsAsync(b.board.strategy.transition('shell'), { instanceOf: StageTimeout });
  t.is(e!.stage, 'shell');
  t.is(e!.timeoutMs, 3000, 'bootloader + shell + client-ready deadlines of the board file');
  t.regex(e!.message, /^StageTimeout: stage 'shell' \(waiting for \/the device's deviceconnect link\/\) timed out after 3 s/);
  t.is(b.lab.powerOns, 1);
});

test('a wrong token is refused at once, saying where it came from', async (t) => {
  const b = await bench(t, { token: 'not-a-token' });
  await b.board.prepare(() => undefined);
  const why = new RegExp(`refused the management token from \\$${b.tokenEnv} \\(401.*\\): log in again`);
  await t.throwsAsync(b.board.reset({ runDir: join(b.work, 's1'), dataFiles: {} }), { message: why });
  t.is(b.lab.powerOns, 0, 'nothing was powered or flashed');
  await t.throwsAsync(consoleRuns(b.path, 'true', /never/), { message: why });
  // With the power on already, the strategy's wait says the stage.
  const e = await t.throwsAsync(b.board.strategy.transition('shell'), { instanceOf: LinkStageError });
  t.regex(e!.message, /^stage 'shell' \(waiting for the device's deviceconnect link\): .*refused the management token/);
});

test('a device the server has not accepted, or does not know, is refused with what to do', async (t) => {
  const b = await bench(t, { accept: false });
  await b.board.prepare(() => undefined);
  // The board's first run: the device has never asked, so the card is flashed and the board
  // booted; once it asks, the wait ends at once with what the user must do.
  await b.board.reset({ runDir: join(b.work, 's1'), dataFiles: {} });
  const pending = /device \S+ \(mac=.*\) is pending on http:\/\/127\.0\.0\.1:\d+, not accepted: accept it/;
  const e = await t.throwsAsync(b.board.strategy.transition('shell'), { instanceOf: LinkStageError });
  t.regex(e!.message, /^stage 'shell' \(waiting for the device's deviceconnect link\): /);
  t.regex(e!.message, pending);
  t.is(b.lab.powerOns, 1);
  // Known and still pending: refused before anything is flashed, and by the console command.
  await t.throwsAsync(b.board.reset({ runDir: join(b.work, 's2'), dataFiles: {} }), { message: pending });
  t.is(b.lab.powerOns, 1);
  await t.throwsAsync(consoleRuns(b.path, 'true', /never/), { message: pending });
  const byId = await loadBoardFile(b.lab.boardFile(b.flashed, { device: 'no-such-device', tokenEnv: b.tokenEnv }, 'netlab-by-id'));
  const board = LabBoard.open(byId, { buildImages: () => fakeImages(b.work) });
  await board.prepare(() => undefined);
  await t.throwsAsync(board.reset({ runDir: join(b.work, 's3'), dataFiles: {} }), { message: /knows no device no-such-device \(404.*\): check the board file's device id/ });
});

test("the link lost under a running command fails it at once, naming stage 'shell' and the command", async (t) => {
  const b = await bench(t);
  await b.board.prepare(() => undefined);
  await b.board.reset({ runDir: join(b.work, 's1'), dataFiles: {} });
  await b.board.strategy.transition('shell');
  // Seen by a line listener: the shell's expect is the console's one wait.
  const started = new Promise<void>((resolve) => {
    const off = b.board.caps.console.onLine((l) => /run2ning/.test(l.text) && (off(), resolve()));
  });
  const running = b.board.caps.shell.run('echo "run$((1+1))ning"; sleep 600', { timeoutMs: 600_000 });
  await started;
  await b.lab.dropLink();
  const e = await t.throwsAsync(running, { instanceOf: LinkLostError });
  t.regex(e!.message, /: the shell session through deviceconnect ended at stage 'shell' while running `echo "run\$\(\(1\+1\)\)ning"; sleep 600`: console .* closed while waiting for .*link lost: .*the device's connection ended/);
});

test('a board file names its device by id or by identity, not both and not neither', async (t) => {
  const lab = new NetLab('02:00:00:00:00:ff');
  t.teardown(() => rmSync(lab.dir, { recursive: true, force: true }));
  lab.url = 'http://127.0.0.1:1';
  for (const c of [{}, { device: 'd1', identity: { mac: 'x' } }])
    await t.throwsAsync(loadBoardFile(lab.boardFile('/dev/null', c)), { message: /names the device by id \(device\) or by identity attributes \(identity\), exactly one/ });
  t.is((await loadBoardFile(lab.boardFile('/dev/null', { device: 'd1' }))).lab?.console.type, 'deviceconnect');
});

test("a server with its own CA: the board file's ca is trusted by the harness and written onto the card for the device", async (t) => {
  const b = await bench(t, { tls: true });
  t.regex(b.lab.url, /^https:/);
  // Without the CA the harness does not trust the server, and says so before flashing.
  const untrusted = LabBoard.open(await loadBoardFile(b.lab.boardFile(b.flashed, { identity: { mac: b.lab.mac }, tokenEnv: b.tokenEnv }, 'netlab-no-ca')), { buildImages: () => fakeImages(b.work) });
  await untrusted.prepare(() => undefined);
  await t.throwsAsync(untrusted.reset({ runDir: join(b.work, 's0'), dataFiles: {} }), { message: /cannot reach https:\/\/127\.0\.0\.1:\d+ for the device list: .*certificate/ });

  const board = LabBoard.open(await loadBoardFile(b.lab.boardFile(b.flashed, { identity: { mac: b.lab.mac }, tokenEnv: b.tokenEnv, ca: b.lab.caPath }, 'netlab-ca')), { buildImages: () => fakeImages(b.work), linkPollMs: 50 });
  t.teardown(() => board.release());
  await board.prepare(() => undefined);
  await board.reset({ runDir: join(b.work, 's1'), dataFiles: {} });
  const cat = (f: string) => run('debugfs', ['-R', `cat ${f}`, `${b.flashed}?offset=${4 * MiB}`]);
  t.is(await cat('/flipside-connect/server.crt'), readFileSync(b.lab.caPath!, 'utf8'));
  t.like(JSON.parse(await cat('/flipside-connect/flipside.conf')), { ServerURL: b.lab.url, ServerCertificate: '/data/flipside-connect/server.crt' });
  await board.strategy.transition('shell');
  t.is((await board.caps.shell.run('echo "tls-$((4*4))"')).stdout, 'tls-16');
});
