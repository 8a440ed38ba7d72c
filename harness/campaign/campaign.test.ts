// A small campaign end to end: the clean client passes every sampled crash state, two mutants are
// caught at the cut that exposes them, the reports say so, and report.html shows the matrix and the
// sensitivity table in chromium. (ci/test.sh runs the bounded campaign with the whole catalogue.)
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../../test-support/chromium.js';
import { writeCampaignReports } from '../report/campaign.js';
import { runCampaign } from './campaign.js';
import { selectMutants } from './mutants.js';

test('a sampled campaign passes with the clean client, catches two mutants and reports both in chromium', async (t) => {
  t.timeout(15 * 60_000);
  const work = mkdtempSync(join(tmpdir(), 'flipside-campaign-test-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const r = await runCampaign({ board: 'host-sim', cuts: 24, phase: 'all', mutants: selectMutants('state-after-effect,rollback-keeps-boot-part'), seed: 3, jobs: 2, reportsDir: work, partitionMiB: 1, extra: 2 });
  t.is(r.results.length, 24);
  t.deepEqual(r.results.filter((x) => !x.ok).map((x) => `${x.flow}:${x.cut}:${x.index} ${x.stage}: ${x.reason}`), []);
  t.true(r.results.some((x) => x.index > 0), 'crash states beyond the plain cut were checked');
  t.true(r.results.some((x) => x.retried), 'an unfinished update was retried');
  const byName = new Map(r.mutants.map((m) => [m.name, m]));
  // Stored after its effect: a cut between the flip and the store leaves the env on trial with nothing stored.
  t.regex(byName.get('state-after-effect')!.first?.reason ?? 'not caught', /upgrade_available=1/);
  t.regex(byName.get('rollback-keeps-boot-part')!.first?.reason ?? 'not caught', /slot B/);
  for (const m of r.mutants) t.regex(m.replay, new RegExp(`--only \\w+:\\d+:\\d+ --mutants ${m.name}`));

  const s = writeCampaignReports(r, { partitionMiB: 1, extra: 2 });
  t.is(s.cuts, 24);
  t.is(s.caught, 2);
  const junit = readFileSync(s.junit, 'utf8');
  t.is((junit.match(/<testcase /g) ?? []).length, 26);
  t.notRegex(junit, /<failure/);

  const context = await chromium.launchPersistentContext(join(work, 'profile'), { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 1000 } });
  t.teardown(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pathToFileURL(s.html).href);
  t.regex((await page.locator('.verdict').textContent())!, /PASS: 24 cuts, 0 failures; 2\/2 mutants caught/);
  t.true((await page.locator('table.matrix td.c').count()) >= 20, 'a cell per cut point');
  t.is(await page.locator('table.matrix td.fail').count(), 0);
  t.is(await page.locator('table.list tr', { hasText: 'state-after-effect' }).count(), 1);
  if (process.env.FLIPSIDE_CAMPAIGN_SCREENSHOT) await page.screenshot({ path: process.env.FLIPSIDE_CAMPAIGN_SCREENSHOT, fullPage: true });
  t.deepEqual(errors, []);
});

test('managed mode: the daemon against the bundled server passes sampled crash states; a managed mutant and a standalone one that applies are caught, one that does not apply is named', async (t) => {
  t.timeout(15 * 60_000);
  const work = mkdtempSync(join(tmpdir(), 'flipside-campaign-managed-test-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const r = await runCampaign({ board: 'host-sim', mode: 'managed', managedCuts: 4, phase: 'all', mutants: selectMutants('success-before-commit,rollback-keeps-boot-part,flip-before-checksum'), seed: 1, jobs: 2, reportsDir: work, partitionMiB: 1, extra: 4 });
  t.is(r.results.length, 4);
  t.true(r.results.every((x) => x.flow.startsWith('managed-')), 'only managed flows in managed mode');
  t.deepEqual(r.results.filter((x) => !x.ok).map((x) => `${x.flow}:${x.cut}:${x.index} ${x.stage}: ${x.reason}`), []);
  // The managed one and a standalone one the daemon runs are searched and caught; a standalone one
  // the managed flows cannot show (no corrupt payload) is named with its reason.
  t.deepEqual(r.mutants.map((m) => m.name), ['success-before-commit', 'rollback-keeps-boot-part']);
  const [m, rb] = r.mutants as [(typeof r.mutants)[number], (typeof r.mutants)[number]];
  t.true(m.caught, 'success-before-commit caught');
  t.regex(m.first?.reason ?? '', /server/);
  t.regex(m.replay, /--mode managed --seed 1 --only managed-[a-z]+:\d+:\d+ --mutants success-before-commit/);
  t.true(rb.caught, `rollback-keeps-boot-part caught on a managed flow: ${rb.first?.flow}`);
  t.regex(rb.first?.flow ?? '', /^managed-/);
  t.deepEqual(r.notSearched.map((x) => x.name), ['flip-before-checksum']);
  t.regex(r.notSearched[0]!.why, /checksum/);
});
