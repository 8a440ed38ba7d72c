// The report of a real run (not a sample): host-sim runs power-cut-first-boot (a power cut, then
// the bootloader's rollback) and skip-fsync's failing run; chromium opens report.html from disk
// and the timeline shows the fault, the rollback and the failed check with its cause.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHROMIUM, CHROMIUM_ARGS, CHROMIUM_MISSING } from '../../test-support/chromium.js';
import { chromium } from 'playwright-core';
import { loadScenarios } from '../scenario/load.js';
import { runScenarios } from '../scenario/runner.js';
import { HostSimLabBoard } from './lab-board.js';
import { buildDeviceBundle } from '../../client/build-device.js';


test('a real host-sim run: report.html shows the power cut, the rollback and a failed check in chromium', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(CHROMIUM_MISSING);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'flipside-real-report-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const all = await loadScenarios();
  const pick = (n: string) => all.find((s) => s.name === n)!;
  // One run passes (cut + rollback), one fails: the client built without the fsync before the flip.
  const ok = await runScenarios({ scenarios: [pick('power-cut-first-boot')], board: new HostSimLabBoard(), seed: 1, reportsDir: join(work, 'r'), workDir: join(work, 'w1') });
  t.is(ok.exitCode, 0);
  const bug = await buildDeviceBundle(join(work, 'bug.cjs'), { injectBug: 'skip-fsync' });
  const bad = await runScenarios({ scenarios: [pick('power-cut-after-env-flip')], board: new HostSimLabBoard(undefined, { clientBundle: bug }), seed: 1, reportsDir: join(work, 'r'), workDir: join(work, 'w2') });
  t.is(bad.exitCode, 1);
  t.regex(bad.results[0]!.failure?.message ?? '', /boots the new rootfs/, readFileSync(join(bad.dir, 'run.jsonl'), 'utf8'));

  const context = await chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 1200 },
  });
  t.teardown(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(pathToFileURL(ok.reports.html).href);
  const count = (k: string) => page.locator(`[data-count="${k}"] b`).textContent();
  t.deepEqual([await count('passed'), await count('failed'), await count('total')], ['1', '0', '1']);
  await page.locator('#sc-0 > summary').click();
  const sc = page.locator('#sc-0');
  const fault = sc.locator('.ev.hl-fault');
  await fault.first().waitFor();
  t.regex((await fault.first().textContent())!, /power cut/);
  const rollback = sc.locator('.ev.hl-rollback', { hasText: 'altbootcmd' });
  t.true(await rollback.first().isVisible(), 'the bootloader rollback is highlighted');
  // The fault comes before the rollback on the timeline.
  const order = await sc.locator('.ev.hl-fault, .ev.hl-rollback').allTextContents();
  t.true(order.findIndex((x) => /power cut/.test(x)) < order.findIndex((x) => /altbootcmd/.test(x)), order.join('\n'));

  await page.goto(pathToFileURL(bad.reports.html).href);
  t.deepEqual([await count('passed'), await count('failed')], ['0', '1']);
  const failing = page.locator('#sc-0');
  t.is(await failing.getAttribute('open'), '', 'a failed scenario is open at load');
  t.regex((await failing.locator('.failure .fmsg').textContent())!, /boots the new rootfs/);
  t.true(await failing.locator('.ev', { hasText: 'were never fsynced and are lost' }).first().isVisible(), 'the cause is on the timeline');
  t.deepEqual(errors, []);
});
