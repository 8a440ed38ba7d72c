// The doctor subcommand on a commander program: options, exit status and the JSON report, with
// a LabBoard on the fake bench standing in for openBoard.
import test from 'ava';
import { Command } from 'commander';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabBoard } from '../board/lab-board.js';
import { registerDoctorCommand } from './command.js';
import { FakeLab } from './lab.fake.js';
import type { DoctorReport } from './runner.js';

test('doctor --board NAME --json --no-flash prints the report as JSON and sets exit status 1 on a finding', async (t) => {
  const lab = new FakeLab({ fwEnvConfig: '/dev/mmcblk0 0x400000 0x4000\n/dev/mmcblk0 0x404000 0x4000\n' });
  await lab.start();
  const logDir = mkdtempSync(join(tmpdir(), 'doctor-cmd-'));
  t.teardown(async () => {
    await lab.stop();
    rmSync(logDir, { recursive: true, force: true });
  });
  const printed: string[] = [];
  let status = -1;
  const opened: string[] = [];
  const program = new Command('flipside-lab').exitOverride();
  registerDoctorCommand(program, (c) => (status = c), {
    openBoard: async (name) => {
      opened.push(name);
      const board = LabBoard.open(lab.boardFile('/dev/null'), { logDir, consoleWaitMs: 5000 });
      lab.watchHostConsole(board.caps.console);
      return board;
    },
    reportsDir: logDir,
    print: (s) => printed.push(s),
    progress: () => undefined,
  });
  await program.parseAsync(['doctor', '--board', 'raspberrypi3', '--json', '--no-flash'], { from: 'user' });
  t.deepEqual(opened, ['raspberrypi3']);
  t.is(status, 1);
  const report = JSON.parse(printed.join('')) as DoctorReport;
  t.false(report.ok);
  t.deepEqual(report.checks.map((c) => c.id), ['env-linux-to-bootloader', 'env-bootloader-to-linux', 'env-redundant-copies', 'rollback']);
  t.regex(report.checks[0]!.fix!, /\/dev\/mmcblk0 0x800000 0x4000/);
  t.deepEqual(report.logs, [join(logDir, 'raspberrypi3-console.log')]);
});

test('doctor refuses a board whose console is a shell through the server, before flashing it', async (t) => {
  const lab = new FakeLab();
  t.teardown(() => rmSync(lab.dir, { recursive: true, force: true }));
  const file = lab.boardFile('/dev/null');
  file.lab!.console = { type: 'deviceconnect', server: 'https://lab-server:8443', identity: { mac: '02:00:00:00:00:01' } };
  let prepared = false;
  const board = LabBoard.open(file, {
    buildImages: async () => {
      prepared = true;
      throw new Error('must not build');
    },
  });
  const program = new Command('flipside-lab').exitOverride();
  registerDoctorCommand(program, () => undefined, { openBoard: async () => board, reportsDir: lab.dir, print: () => undefined, progress: () => undefined });
  await t.throwsAsync(program.parseAsync(['doctor', '--board', 'raspberrypi3'], { from: 'user' }), { message: /the doctor talks to U-Boot, which needs a console from power-on \(boot-console\); this board's console is a shell through the server/ });
  t.false(prepared);
});
