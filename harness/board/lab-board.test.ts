// LabBoard end to end without hardware: the board file's lab section points at a pty pair with a
// scripted U-Boot/Linux on the far end, a `command` power driver and a flash command that copies
// the card image to a file, so the flashed bytes can be checked.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../qemu/image/exec.js';
import { FakeLab } from '../doctor/lab.fake.js';
import { LabBoard } from './lab-board.js';
import { fakeImages } from './lab-images.fake.js';

const MiB = 2 ** 20;

test('a lab board flashes the card with its data files, boots to the shell over serial and keeps a timestamped transcript', async (t) => {
  const lab = new FakeLab();
  await lab.start();
  const work = mkdtempSync(join(tmpdir(), 'lab-board-'));
  t.teardown(async () => {
    await lab.stop();
    rmSync(work, { recursive: true, force: true });
  });
  const flashed = join(work, 'flashed.img');
  const board = LabBoard.open(lab.boardFile(flashed), { buildImages: () => fakeImages(work), consoleWaitMs: 3000 });
  t.deepEqual([...board.capabilities], ['power', 'console', 'boot-console', 'shell', 'exact-cuts', 'bytes-written']);
  await board.prepare(() => undefined);
  const runDir = join(work, 'scenario-1');
  await board.reset({ runDir, dataFiles: { '/data/next.mender': { path: board.artifacts.next! }, '/data/canary': { content: Buffer.from('canary-42') } } });
  t.true(existsSync(flashed), 'the flash command ran');
  t.false(existsSync(join(runDir, 'card.img')), 'the per-scenario card copy is dropped after flashing');
  const cat = (f: string) => run('debugfs', ['-R', `cat ${f}`, `${flashed}?offset=${4 * MiB}`]);
  t.is(await cat('/canary'), 'canary-42');
  t.is(await cat('/next.mender'), 'not really an artifact');

  await board.strategy.transition('shell');
  t.is(lab.powerOns, 1);
  const r = await board.caps.shell.run('cat /proc/cmdline');
  t.is(r.code, 0);
  t.regex(r.stdout, /root=\/dev\/mmcblk0p2/);
  const logs = await board.release();
  t.false(existsSync(lab.powerFile), 'release() cuts the power');
  t.deepEqual(logs, [join(runDir, 'console.log')]);
  const transcript = readFileSync(logs[0]!, 'utf8').trimEnd().split('\n');
  t.true(transcript.some((l) => l.includes('U-Boot 2023.01 (fake)')));
  for (const l of transcript) t.regex(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (  |--) /);
});

test('a lab board without a lab section is refused with the reason', async (t) => {
  const lab = new FakeLab();
  const file = { ...lab.boardFile('/dev/null'), lab: undefined };
  t.throws(() => LabBoard.open(file), { message: /has no lab section/ });
  rmSync(lab.dir, { recursive: true, force: true });
});

test('with an SD mux the card is flashed with dd and its env copies are read offline with the board off', async (t) => {
  const lab = new FakeLab();
  const work = mkdtempSync(join(tmpdir(), 'lab-board-mux-'));
  // The "card" must be a /dev path for the board file; /dev/shm is.
  const card = join(lab.dir, 'card');
  const muxLog = join(work, 'mux.log');
  t.teardown(() => {
    rmSync(work, { recursive: true, force: true });
    rmSync(lab.dir, { recursive: true, force: true });
  });
  const file = lab.boardFile('/dev/null');
  file.lab!.flash = { type: 'sd-mux', toHost: `echo host >> ${muxLog}; touch ${card}`, toBoard: `echo dut >> ${muxLog}`, device: card, vars: {} };
  const images = await fakeImages(work);
  // Env copies in the image at the board file's offsets, as the image builder puts them.
  const { applyChanges, encodeBlob } = await import('../../bootenv/uboot-env-format.js');
  const vars = applyChanges(new Map(), { boot_part: '2', upgrade_available: '0', bootcount: '0' });
  const { openSync, writeSync, closeSync } = await import('node:fs');
  const fd = openSync(images.current.disk, 'r+');
  writeSync(fd, encodeBlob(vars, 0x4000, true, 1), 0, 0x4000, 0x800000);
  writeSync(fd, encodeBlob(vars, 0x4000, true, 0), 0, 0x4000, 0x1000000);
  closeSync(fd);
  const board = LabBoard.open(file, { buildImages: async () => images });
  t.true(board.capabilities.has('storage'));
  await board.prepare(() => undefined);
  await board.reset({ runDir: join(work, 's1'), dataFiles: {} });
  t.is(readFileSync(muxLog, 'utf8'), 'host\ndut\n', 'flashing switched the mux to the host and back');
  t.is(readFileSync(card).length, readFileSync(images.current.disk).length);
  const env = await board.readEnvCopies!();
  t.deepEqual(env.copies.map((c) => [c.offset, c.crcOk, c.flag]), [[0x800000, true, 1], [0x1000000, true, 0]]);
  t.is(env.current, 0);
  t.is(env.vars.boot_part, '2');
  t.is(readFileSync(muxLog, 'utf8'), 'host\ndut\nhost\ndut\n');
  await board.release();
});

test('a proxy network with the address the board reaches it by: the image is built for it, the managed scenarios can run', async (t) => {
  const lab = new FakeLab();
  const work = mkdtempSync(join(tmpdir(), 'lab-board-proxy-'));
  t.teardown(() => {
    rmSync(work, { recursive: true, force: true });
    rmSync(lab.dir, { recursive: true, force: true });
  });
  const file = lab.boardFile('/dev/null');
  file.lab!.network = { type: 'proxy', listenHost: '0.0.0.0', listenPort: 18443 };
  t.false(LabBoard.open(file).capabilities.has('server'), 'without serverUrl the image would not know where to go');
  file.lab!.network = { type: 'proxy', listenHost: '0.0.0.0', listenPort: 18443, serverUrl: 'http://192.168.7.1:18443' };
  const seen: Array<{ serverUrl?: string }> = [];
  const board = LabBoard.open(file, {
    buildImages: async (_log, o) => {
      seen.push(o);
      return fakeImages(work);
    },
  });
  t.true(board.capabilities.has('server'));
  t.deepEqual(board.serverListen, { host: '0.0.0.0', port: 18443 });
  await board.prepare(() => undefined);
  t.deepEqual(seen, [{ serverUrl: 'http://192.168.7.1:18443' }]);
});

test('a power cut while a command runs: the command fails at once and the board boots to a shell again', async (t) => {
  const lab = new FakeLab();
  await lab.start();
  const work = mkdtempSync(join(tmpdir(), 'lab-board-cut-'));
  t.teardown(async () => {
    await lab.stop();
    rmSync(work, { recursive: true, force: true });
  });
  const board = LabBoard.open(lab.boardFile(join(work, 'flashed.img')), { buildImages: () => fakeImages(work), consoleWaitMs: 3000 });
  await board.prepare(() => undefined);
  await board.reset({ runDir: join(work, 's1'), dataFiles: {} });
  await board.strategy.transition('shell');
  const running = board.caps.shell.run('sleep 600', { timeoutMs: 600_000 });
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  await board.caps.power.cut();
  board.strategy.poweredOff();
  const late = new Promise<never>((_, rej) => setTimeout(() => rej(new Error('the command still waits 5 s after the cut')), 5000).unref());
  await t.throwsAsync(Promise.race([running, late]), { message: /the power was cut/ });
  t.true(Date.now() - t0 < 5000);
  await board.strategy.transition('shell');
  const r = await board.caps.shell.run('cat /proc/cmdline');
  t.is(r.code, 0);
  await board.release();
});
