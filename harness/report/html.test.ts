import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CHROMIUM, CHROMIUM_ARGS, CHROMIUM_MISSING } from '../../test-support/chromium.js';
import { chromium } from 'playwright-core';
import type { TimelineEvent } from '../run/timeline.js';
import { FLAG_FAIL, FLAG_FAULT, FLAG_ROLLBACK, FLAG_STATE_LINE, highlightOf, renderHtml } from './html.js';
import { sampleRun } from './sample-run.fake.js';
import { writeReports } from './write.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ev = (source: TimelineEvent['source'], kind: string, text: string): TimelineEvent => ({ t: 0, source, kind, text });

test('highlights: faults, rollbacks, failed checks', (t) => {
  t.is(highlightOf(ev('fault', 'power-cut', 'power-cut at x')), FLAG_FAULT);
  t.is(highlightOf(ev('client-state', 'ArtifactRollbackReboot', 'ArtifactRollbackReboot')), FLAG_ROLLBACK);
  t.is(highlightOf(ev('console', 'line', 'Boot limit exceeded: rolling back to partition 2')), FLAG_ROLLBACK);
  t.is(highlightOf(ev('check', 'fail', 'two commits')), FLAG_FAIL);
  t.is(highlightOf(ev('harness', 'fault-error', 'relay')), FLAG_FAIL);
  t.is(highlightOf(ev('check', 'pass', 'rollback happened')), 0);
  // The noun in an install hint is no rollback (happy-path showed a ROLLBACK badge for it).
  t.is(highlightOf(ev('console', 'line', 'Installed lab-2. Reboot the device, then run `flipside commit` to keep it or `flipside rollback` to drop it.')), 0);
  t.is(highlightOf(ev('console', 'line', 'FLIPSIDE-STATE {"state":"ArtifactRollback","deployment":"d","t":1}')), FLAG_STATE_LINE);
  t.is(highlightOf(ev('client-state', 'ArtifactCommit', 'ArtifactCommit')), 0);
});

test('static page: escaped headers, script-safe data, failing open and passing collapsed, no remote references', (t) => {
  const run = sampleRun();
  run.scenarios[2]!.scenario = '<img src=x onerror=alert(1)>';
  const html = renderHtml(run);
  t.false(html.includes('<img src=x'));
  t.true(html.includes('&#60;img src=x onerror=alert(1)&#62;'));
  t.false(html.includes('alert("x")</script>'), 'console text cannot close the data script');
  t.regex(html, /<details class="sc st-failed" id="sc-2" data-s="2" open>/);
  t.regex(html, /<details class="sc st-passed" id="sc-0" data-s="0">/);
  t.notRegex(html, /(?:src|href)="(?:https?:)?\/\//);
  t.regex(html, /Content-Security-Policy" content="default-src 'none'/);
  t.true(html.includes('flipside-lab run &#60;img src=x onerror=alert(1)&#62; --board qemu-aarch64 --seed 1234'));
});

test('one screen up top: a row per scenario with faults, rollback and final version; each scenario tells it collapsed too', (t) => {
  const run = sampleRun();
  const html = renderHtml(run);
  const overview = /<table class="overview">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
  t.is(overview.match(/<tr class="st-/g)?.length, run.scenarios.length);
  t.regex(overview, /href="#sc-1">power-cut-in-reboot<\/a>[\s\S]*?power-cut at client state ArtifactReboot[\s\S]*?<b class="rb">yes<\/b>/);
  t.regex(html, /<span class="story">.*faults: none · rollback: no/);
  // A console state line is drawn once, as its client-state row.
  const data = JSON.parse(/<script type="application\/json" id="flipside-data">([\s\S]*?)<\/script>/.exec(html)![1]!) as { scenarios: { e: unknown[][] }[] };
  const texts = data.scenarios.flatMap((s) => s.e.map((r) => String(r[3])));
  t.false(texts.some((x) => x.includes('FLIPSIDE-STATE')));
});

// Speed lives in no unit test (machines here are noisy); the size bound keeps long consoles cheap to open.
test('a 20,000-line console renders to a bounded HTML page', (t) => {
  const html = renderHtml(sampleRun({ noiseLines: 20_000 }));
  t.true(html.length < 4_000_000);
});

test('in chromium: renders, counts right, fault and rollback visible, filter works, no network, screenshot', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(CHROMIUM_MISSING);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'flipside-html-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const written = writeReports(sampleRun({ noiseLines: 10_000 }), join(work, 'report'));
  const context = await chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 1500 },
  });
  t.teardown(() => context.close());
  const requests: string[] = [];
  const dialogs: string[] = [];
  const errors: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (e) => errors.push(e.message));
  const url = pathToFileURL(written.html).href;
  await page.goto(url);

  const count = (k: string) => page.locator(`[data-count="${k}"] b`).textContent();
  t.deepEqual([await count('passed'), await count('failed'), await count('error'), await count('skipped'), await count('total')], ['2', '1', '0', '1', '4']);

  // Failing scenario is open at load with its failure on top; passing ones are closed.
  const failing = page.locator('#sc-2');
  t.is(await failing.getAttribute('open'), '');
  t.is(await page.locator('#sc-1').getAttribute('open'), null);
  t.regex((await failing.locator('.failure .fmsg').textContent())!, /server view <success> does not match/);
  t.is(await failing.locator('.failure .stage').textContent(), 'stage: check: server matches device');
  t.true(await failing.locator('.ev.hl-fault').first().isVisible());
  t.true(await failing.locator('.ev', { hasText: '</script><script>alert("x")</script>' }).isVisible(), 'hostile text shown as text');

  // Open the power-cut scenario: the cut and the rollback are there, highlighted.
  await page.locator('#sc-1 > summary').click();
  const cut = page.locator('#sc-1');
  const fault = cut.locator('.ev.hl-fault');
  await fault.first().waitFor();
  t.is(await fault.count(), 1);
  t.regex((await fault.textContent())!, /power-cut at client state ArtifactReboot/);
  t.true(await cut.locator('.ev.s-client-state.hl-rollback', { hasText: 'ArtifactRollbackReboot' }).isVisible());
  t.true(await cut.locator('.tick.s-fault').isVisible());

  // 10,000 console lines: only head and tail are drawn until asked.
  const drawn = await cut.locator('.ev.s-console').count();
  t.true(drawn < 1000, `drew ${drawn} console rows`);
  t.is(await cut.locator('.gap button').count(), 1);
  await cut.locator('.info .show-all').click();
  t.is(await cut.locator('.gap').count(), 0);
  t.true((await cut.locator('.ev.s-console').count()) > 10_000);

  // Filters: hiding console hides console rows, leaves faults and states.
  await page.locator('input[data-source="console"]').uncheck();
  t.false(await cut.locator('.ev.s-console').first().isVisible());
  t.true(await fault.isVisible());
  t.true(await cut.locator('.ev.s-client-state').first().isVisible());
  await page.locator('input[data-source="fault"]').uncheck();
  t.false(await fault.isVisible());
  await page.locator('input[data-source="console"]').check();
  t.true(await cut.locator('.ev.s-console').first().isVisible());

  // The screenshot shows an ordinary-sized run whole: summary, the cut and rollback, the failure.
  const small = writeReports(sampleRun(), join(work, 'small'));
  const smallUrl = pathToFileURL(small.html).href;
  await page.goto(smallUrl);
  await page.locator('#sc-1 > summary').click();
  await page.locator('#sc-1 .ev.hl-fault').waitFor();
  mkdirSync(join(REPO, 'reports/ui'), { recursive: true });
  await page.screenshot({ path: join(REPO, 'reports/ui/report-sample.png'), fullPage: true });

  // Chromium's own XML parser agrees the JUnit file is well-formed, even with every C0 control,
  // DEL, C1 controls and broken surrogates in the console.
  const nasty = sampleRun();
  const every = Array.from({ length: 0xa0 }, (_, c) => String.fromCharCode(c)).join('');
  nasty.scenarios[2]!.timeline.push({ t: 31_100, source: 'console', kind: 'line', text: `${every}\udfff\ud83d]]>&amp;` });
  const junit = readFileSync(writeReports(nasty, join(work, 'nasty')).junit, 'utf8');
  const parsed = await page.evaluate((xml) => {
    const doc = new (globalThis as any).DOMParser().parseFromString(xml, 'application/xml');
    return { error: doc.getElementsByTagName('parsererror').length, cases: doc.getElementsByTagName('testcase').length, out: doc.getElementsByTagName('system-out')[2].textContent };
  }, junit);
  t.is(parsed.error, 0);
  t.is(parsed.cases, 4);
  t.true((parsed.out as string).includes('\\x00\\x01'));
  t.true((parsed.out as string).includes('\\udfff\\ud83d]]>&amp;'));

  t.deepEqual(dialogs, [], 'no script from console text ran');
  t.deepEqual(errors, []);
  t.deepEqual(requests.filter((u) => u !== url && u !== smallUrl && !u.startsWith('data:')), [], 'no network requests');
});
