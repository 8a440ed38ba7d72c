// The doctor against scripted boards on the far end of a pty pair, through a real LabBoard (serial
// console, `command` power): a board whose fw_env.config matches U-Boot, one whose fw_env.config
// names the wrong offset, one whose bootloader never counts boots, and one whose USB serial
// adapter vanishes at every power cut.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabBoard } from '../board/lab-board.js';
import { RelayConsole } from '../board/relay-console.js';
import { StreamConsole } from '../console/stream-console.js';
import { FakeLab, type FakeLabOptions } from './lab.fake.js';
import { formatDoctorReport } from './format.js';
import { DOCTOR_CHECKS, runDoctor, type DoctorReport } from './runner.js';
import { DOCTOR_CHECK_IDS } from './check-ids.js';

async function doctor(t: { teardown(fn: () => Promise<void> | void): void }, o: FakeLabOptions): Promise<{ report: DoctorReport; lab: FakeLab; text: string; transcript: string }> {
  const lab = new FakeLab(o);
  await lab.start();
  const logDir = mkdtempSync(join(tmpdir(), 'doctor-'));
  t.teardown(async () => {
    await lab.stop();
    rmSync(logDir, { recursive: true, force: true });
  });
  const board = LabBoard.open(lab.boardFile('/dev/null'), { logDir, consoleWaitMs: 30_000 });
  // A vanishing adapter: the bench powers the board once this console has the new device open.
  const relay = board.caps.console as RelayConsole;
  lab.watchHost(() => relay.current instanceof StreamConsole && relay.current.connected);
  lab.watchHostConsole(board.caps.console);
  const report = await runDoctor(board, { uboot: { prompt: /=> $/, interruptMs: 30_000 } });
  await board.release();
  return { report, lab, text: formatDoctorReport(report), transcript: readFileSync(join(logDir, 'raspberrypi3-console.log'), 'utf8') };
}

const byId = (r: DoctorReport, id: string) => r.checks.find((c) => c.id === id)!;

test('the ids the CLI lists are the checks the doctor runs, in order', (t) => {
  t.deepEqual(
    DOCTOR_CHECKS.map((c) => c.id),
    [...DOCTOR_CHECK_IDS],
  );
});

test('a board whose fw_env.config matches U-Boot passes every check', async (t) => {
  const { report, text } = await doctor(t, {});
  t.true(report.ok, text);
  t.deepEqual(report.checks.map((c) => c.status), ['pass', 'pass', 'pass', 'pass'], text);
  t.regex(byId(report, 'env-linux-to-bootloader').detail, /U-Boot sees it in U-Boot's own env/);
  t.regex(byId(report, 'env-redundant-copies').detail, /alternated copies 0x\w+ → 0x\w+, flags \d+ → \d+/);
  t.regex(byId(report, 'rollback').detail, /rolled back to \/dev\/mmcblk0p2 after 2 power cycles \(2 bootloader starts\)/);
});

test('fw_env.config naming the wrong offset: the canary check fails and the fix names U-Boot\'s offset', async (t) => {
  const { report, text } = await doctor(t, { fwEnvConfig: '/dev/mmcblk0 0x400000 0x4000\n/dev/mmcblk0 0x404000 0x4000\n' });
  const c = byId(report, 'env-linux-to-bootloader');
  t.is(c.status, 'fail', text);
  t.regex(c.fix!, /U-Boot reads the env at 0x800000 and 0x1000000 \(size 0x4000\) but \/etc\/fw_env.config names \/dev\/mmcblk0 0x400000/);
  t.regex(c.fix!, /set \/etc\/fw_env.config to\n {4}\/dev\/mmcblk0 0x800000 0x4000\n {4}\/dev\/mmcblk0 0x1000000 0x4000/);
  t.regex(c.fix!, /CONFIG_ENV_OFFSET=0x400000 CONFIG_ENV_OFFSET_REDUND=0x404000/);
  t.is(byId(report, 'env-bootloader-to-linux').status, 'skip', text);
  // fw_setenv's boot_part never reaches U-Boot, so the trial slot is never booted.
  t.is(byId(report, 'rollback').status, 'fail', text);
  t.regex(byId(report, 'rollback').detail, /booted the original slot/, text);
  t.false(report.ok);
  t.regex(text, /^FAIL  env-linux-to-bootloader/m);
});

test('a bootloader that never counts boots: the rollback check fails with the bootcount fix', async (t) => {
  const { report, lab, text } = await doctor(t, { countsBoots: false });
  const c = byId(report, 'rollback');
  t.is(c.status, 'fail', text);
  t.regex(c.detail, /3 boots of the uncommitted update and bootcount never incremented/, text);
  t.regex(c.fix!, /CONFIG_BOOTCOUNT_LIMIT=y/);
  t.is(byId(report, 'env-linux-to-bootloader').status, 'pass', text);
  t.deepEqual(lab.target.bootloaderEnv()?.boot_part, '2', 'the doctor puts the board back on its original slot');
});

test('boot-script integration with the USB serial adapter vanishing at every power cut: all checks pass on one continuous transcript', async (t) => {
  const { report, lab, text, transcript } = await doctor(t, { integration: 'script', vanishOnPowerOff: true, charDelayMs: 1 });
  t.deepEqual(report.checks.map((c) => c.status), ['pass', 'pass', 'pass', 'pass'], text);
  t.regex(byId(report, 'env-linux-to-bootloader').detail, /raw env copy at 0x800000|raw env copy at 0x1000000/);
  t.regex(byId(report, 'env-bootloader-to-linux').detail, /bootcount 0 → 1/);
  t.true(lab.vanished >= 4, `adapter vanished ${lab.vanished} times`);
  const lines = transcript.trimEnd().split('\n');
  // Every loss is followed by the link coming back before the next loss. release() cuts the power
  // and then closes the console, and whether the console notices that last loss before it closes
  // is up to the host's scheduling: only a final loss may stand alone.
  const links = lines.flatMap((l) => (/-- .*link lost/.test(l) ? ['lost'] : /-- .*link back after \d+ ms/.test(l) ? ['back'] : [])).join(' ');
  t.regex(links, /^(lost back ?)+( ?lost)?$/, links);
  const lost = links.split(' ').filter((w) => w === 'lost').length;
  t.true(lost >= lab.vanished - 1, `${lost} losses noted for ${lab.vanished} vanishes`);
  const stamps = lines.map((l) => Date.parse(l.slice(0, 24)));
  t.false(stamps.some(Number.isNaN), 'every line is timestamped');
  t.deepEqual(stamps, [...stamps].sort((a, b) => a - b));
});
