// End to end on the default QEMU board: the happy path and a power cut during the partition
// write, through the same runner the CLI uses (image builds, real U-Boot, the device client).
// Slow (minutes): FLIPSIDE_QEMU_TESTS=1 only, one VM at a time.
import test from 'ava';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../qemu/image/build.js';
import { QemuBoard } from '../board/qemu-board.js';
import { loadScenarios } from './load.js';
import { runScenarios } from './runner.js';

const enabled = process.env.FLIPSIDE_QEMU_TESTS === '1';
if (!enabled) test.skip('QEMU scenario tests skipped: set FLIPSIDE_QEMU_TESTS=1 to build images and run scenarios on qemu-aarch64', () => undefined);

(enabled ? test.serial : test.skip)('happy-path and power-cut-during-write pass on qemu-aarch64', async (t) => {
  t.timeout(40 * 60_000);
  const scenarios = (await loadScenarios()).filter((s) => s.name === 'happy-path' || s.name === 'power-cut-during-write');
  mkdirSync(join(REPO_ROOT, '.cache', 'lab'), { recursive: true });
  const dir = mkdtempSync(join(REPO_ROOT, '.cache', 'lab', 'test-'));
  const r = await runScenarios({
    scenarios,
    board: await QemuBoard.open('qemu-aarch64'),
    seed: 7,
    reportsDir: dir,
    onProgress: (l) => t.log(l),
  });
  for (const x of r.results) {
    t.log(`${x.scenario}: ${x.status} in ${(x.durationMs / 1000).toFixed(1)} s`);
    t.is(x.status, 'passed', `${x.scenario}: ${x.failure?.message}`);
  }
  t.is(r.results.length, 2);
  const cut = r.results.find((x) => x.scenario === 'power-cut-during-write')!;
  t.true(cut.timeline.some((e) => e.source === 'fault' && e.kind === 'power-cut'), 'a power cut was injected');
});
