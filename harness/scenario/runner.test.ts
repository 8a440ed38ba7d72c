import test from 'ava';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeBoard } from '../board/board.fake.js';
import { readRunJournal } from '../run/journal.js';
import { defineScenario } from './define.js';
import { parseShard, planJobs, runScenarios, shardJobs } from './runner.js';
import { missingNeeds, runsOn, selectScenarios, withOnlyVariants } from './select.js';

const happy = defineScenario({
  name: 'fake-happy',
  purpose: 'install → reboot → commit on the fake board',
  needs: ['power', 'console', 'shell'],
  artifacts: ['next'],
  async run(ctx) {
    await ctx.boot();
    const r = await ctx.sh(`flipside install ${ctx.artifact('next')}`);
    await ctx.check('install succeeds', () => r.code === 0 || `exit ${r.code}`);
    await ctx.reboot();
    await ctx.check('commit succeeds', async () => (await ctx.sh('flipside commit')).code === 0);
    ctx.expectFinal(ctx.versions.next);
  },
});

const forgetsCommit = defineScenario({
  name: 'fake-forgets-commit',
  purpose: 'installs and reboots but never commits: the invariants must catch it',
  needs: ['power', 'console', 'shell'],
  artifacts: ['next'],
  async run(ctx) {
    await ctx.boot();
    await ctx.sh(`flipside install ${ctx.artifact('next')}`);
    await ctx.reboot();
    ctx.expectFinal(ctx.versions.next);
  },
});

const needsNetwork = defineScenario({
  name: 'fake-needs-network',
  purpose: 'needs a network the fake board does not have',
  needs: ['network'],
  async run() {
    throw new Error('must not run');
  },
});

const cutAtState = defineScenario({
  name: 'fake-cut-at-state',
  purpose: 'a state-line fault cuts power during the install',
  needs: ['power', 'console', 'shell'],
  artifacts: ['next'],
  variants: ({ sweep }) => Array.from({ length: sweep }, (_, i) => ({ id: String(i + 1), describe: `point ${i + 1}`, data: i })),
  async run(ctx) {
    await ctx.boot();
    const h = ctx.fault({ kind: 'power-cut', at: { on: 'state', state: 'ArtifactInstall' } });
    const r = await ctx.runUntilFault(`flipside install ${ctx.artifact('next')}`, h);
    await ctx.check('the cut landed', () => r.cut);
    await ctx.check('the strategy knows the board is off', () => ctx.strategy.state === 'off');
    // The fake applies the env flip in one go, so the next boot runs the new slot on trial.
    await ctx.boot();
    await ctx.check('commit', async () => (await ctx.sh('flipside commit')).code === 0);
    ctx.expectFinal(ctx.versions.next);
  },
});

const heldCut = defineScenario({
  name: 'fake-held-cut',
  purpose: 'a cut at a client state lands exactly there on a board whose client holds for it',
  needs: ['power', 'console', 'shell'],
  artifacts: ['next'],
  async run(ctx) {
    await ctx.boot();
    const h = ctx.fault({ kind: 'power-cut', at: { on: 'state', state: 'ArtifactInstall' } });
    const r = await ctx.runUntilFault(`flipside install ${ctx.artifact('next')}`, h);
    await ctx.check('the cut landed', () => r.cut);
    await ctx.boot();
    // Held right after ArtifactInstall was stored, before its effect: the env never flipped.
    const env = await ctx.sh('fw_printenv upgrade_available');
    await ctx.check('the env was never flipped', () => env.stdout === 'upgrade_available=0\n' || env.stdout);
    const again = await ctx.sh('flipside show-artifact');
    await ctx.check('later flipside commands carry no hold', () => again.code === 0);
  },
});

test('a held cut: the flipside command carries the hold, the cut lands when the client says it is held there', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-run-'));
  const board = new FakeBoard({ holdsForCuts: true });
  const r = await runScenarios({ scenarios: [heldCut], board, seed: 5, reportsDir: dir, workDir: join(dir, 'w') });
  t.is(r.results[0]!.status, 'passed', r.results[0]!.failure?.message);
  t.true(board.commands.includes('FLIPSIDE_TEST_HOLD_AT=ArtifactInstall flipside install /data/next.mender'), board.commands.join('\n'));
  t.true(board.commands.includes('flipside show-artifact'));
  const events = r.results[0]!.timeline.map((e) => e.text);
  t.true(events.some((e) => /injected: .*ArtifactInstall.*exact: the client held there/.test(e)), events.join('\n'));
  // Without holds the same fault rides the console line, and the fake's install runs on past it.
  const plain = await runScenarios({ scenarios: [heldCut], board: new FakeBoard(), seed: 5, reportsDir: dir, workDir: join(dir, 'w2') });
  t.is(plain.results[0]!.status, 'failed');
});

test('a held cut at a payload byte, on a board with no write counter: the client holds at the byte', async (t) => {
  const atByte = defineScenario({
    name: 'fake-held-byte',
    purpose: 'a byte-offset cut lands mid-write through the hold hook',
    needs: ['power', 'console', 'shell'],
    artifacts: ['next'],
    async run(ctx) {
      await ctx.boot();
      const h = ctx.fault({ kind: 'power-cut', at: { on: 'bytes-written', bytes: 123456 } });
      const r = await ctx.runUntilFault(`flipside install ${ctx.artifact('next')}`, h);
      await ctx.check('the cut landed', () => r.cut);
      await ctx.boot();
      const env = await ctx.sh('fw_printenv upgrade_available');
      await ctx.check('the env was never flipped', () => env.stdout === 'upgrade_available=0\n' || env.stdout);
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'flipside-run-'));
  const board = new FakeBoard({ holdsForCuts: true });
  const r = await runScenarios({ scenarios: [atByte], board, seed: 5, reportsDir: dir, workDir: join(dir, 'w') });
  t.is(r.results[0]!.status, 'passed', r.results[0]!.failure?.message);
  t.true(board.commands.includes('FLIPSIDE_TEST_HOLD_AT_BYTE=123456 flipside install /data/next.mender'), board.commands.join('\n'));
  t.true(r.results[0]!.timeline.some((e) => /injected: power-cut at 123456 bytes written \(exact: the client held there\)/.test(e.text)));
});

test('a managed scenario on a board that names where the device reaches the server: the fault proxy listens there', async (t) => {
  const free = createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
  const port = (free.address() as AddressInfo).port;
  await new Promise((r) => free.close(r));
  const reached = defineScenario({
    name: 'fake-reaches-server',
    purpose: 'the device side of the proxy is where the board said',
    needs: ['power', 'console', 'shell', 'server'],
    async run(ctx) {
      await ctx.check('the proxy is on the board\'s port', () => ctx.server.devicePort === port || `port ${ctx.server.devicePort}`);
      // What a device on the bench sends first; the reference server answers through the proxy.
      const r = await fetch(`http://127.0.0.1:${port}/api/devices/v1/deployments/device/deployments/next?artifact_name=lab-1&device_type=fake`);
      await ctx.check('the reference server answers there', () => r.status === 401 || `HTTP ${r.status}`);
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'flipside-run-'));
  const board = new FakeBoard({ capabilities: ['power', 'console', 'shell', 'server'], serverListen: { host: '127.0.0.1', port } });
  const r = await runScenarios({ scenarios: [reached], board, seed: 5, reportsDir: dir, workDir: join(dir, 'w') });
  t.is(r.results[0]!.status, 'passed', r.results[0]!.failure?.message);
  t.true(r.results[0]!.timeline.some((e) => e.text.includes(`through the fault proxy on 127.0.0.1:${port}`)));
});

test('shards split a plan: every run in exactly one shard, sizes within one of each other; bad --shard is refused', (t) => {
  const jobs = planJobs([happy, forgetsCommit, cutAtState], 7, 2, 3).map((j) => j.label + '@' + j.seed);
  const shards = [1, 2, 3].map((index) => shardJobs(jobs, parseShard(`${index}/3`)));
  t.deepEqual(shards.flat().sort(), [...jobs].sort());
  const sizes = shards.map((x) => x.length);
  t.true(Math.max(...sizes) - Math.min(...sizes) <= 1, String(sizes));
  t.deepEqual(shardJobs(jobs, undefined), jobs);
  for (const bad of ['0/3', '4/3', '1/0', 'x', '1/2/3']) t.throws(() => parseShard(bad), { message: /use k\/n/ });
});

test('scenarios are selected by capabilities, never by board', (t) => {
  const board = new FakeBoard();
  t.true(runsOn(happy, board));
  t.deepEqual(missingNeeds(needsNetwork, board), ['network']);
  t.true(runsOn(needsNetwork, new FakeBoard({ capabilities: ['power', 'console', 'shell', 'network'] })));
});

test('selectScenarios picks by name and name#k, and names unknown ones', (t) => {
  const all = [happy, cutAtState];
  t.deepEqual(selectScenarios(all, []).scenarios, all);
  const { scenarios, only } = selectScenarios(all, ['fake-cut-at-state#2']);
  t.deepEqual(scenarios, [cutAtState]);
  const limited = withOnlyVariants(cutAtState, only.get('fake-cut-at-state')!);
  t.deepEqual(planJobs([limited], 5, 1, 3).map((j) => j.label), ['fake-cut-at-state#2']);
  t.throws(() => selectScenarios(all, ['nope']), { message: /no scenario named nope; known: fake-happy, fake-cut-at-state/ });
});

test('repetitions run with seed, seed+1, … and sweeps expand into variants', (t) => {
  const jobs = planJobs([happy, cutAtState], 10, 2, 2);
  t.deepEqual(
    jobs.map((j) => `${j.label}@${j.seed}`),
    ['fake-happy@10', 'fake-happy@11', 'fake-cut-at-state#1@10', 'fake-cut-at-state#2@10', 'fake-cut-at-state#1@11', 'fake-cut-at-state#2@11'],
  );
});

test('the runner writes junit.xml and report.html, fails what the invariants catch, skips what cannot run', async (t) => {
  const reportsDir = mkdtempSync(join(tmpdir(), 'flipside-runner-'));
  const lines: string[] = [];
  const r = await runScenarios({
    scenarios: [happy, forgetsCommit, needsNetwork, cutAtState],
    board: new FakeBoard(),
    seed: 42,
    sweep: 2,
    reportsDir,
    runId: 'test-run',
    workDir: join(reportsDir, 'work'),
    onProgress: (l) => lines.push(l),
  });
  const by = Object.fromEntries(r.results.map((x) => [x.scenario, x]));
  t.is(by['fake-happy']!.status, 'passed', by['fake-happy']!.failure?.message);
  t.is(by['fake-cut-at-state#1']!.status, 'passed', by['fake-cut-at-state#1']!.failure?.message);
  t.is(by['fake-cut-at-state#2']!.status, 'passed');
  t.is(by['fake-forgets-commit']!.status, 'failed');
  t.regex(by['fake-forgets-commit']!.failure!.message, /upgrade_available=0 \(offline\)/);
  t.is(by['fake-needs-network']!.status, 'skipped');
  t.deepEqual([r.passed, r.failed, r.skipped, r.exitCode], [3, 1, 1, 1]);
  // Reports on disk, readable back from the journal.
  const junit = readFileSync(join(reportsDir, 'test-run', 'junit.xml'), 'utf8');
  t.regex(junit, /<testsuites[^>]*>/);
  t.true(junit.includes('fake-forgets-commit'));
  t.true(existsSync(join(reportsDir, 'test-run', 'report.html')));
  const replayed = readRunJournal(join(reportsDir, 'test-run', 'run.jsonl'));
  t.is(replayed.scenarios.length, 5);
  // Checks, faults and client states are all on the timeline.
  const tl = by['fake-cut-at-state#1']!.timeline;
  t.true(tl.some((e) => e.source === 'fault' && e.kind === 'power-cut'));
  t.true(tl.some((e) => e.source === 'client-state' && e.kind === 'ArtifactInstall'));
  t.true(tl.some((e) => e.source === 'check' && e.text === 'data: canary intact'));
  // Live progress: a line per scenario and the summary.
  t.true(lines.some((l) => /FAIL fake-forgets-commit .*\n\s+replay: flipside-lab run fake-forgets-commit --board fake --seed 42/.test(l)));
  t.true(lines.some((l) => l.startsWith('3 passed, 1 failed, 1 skipped')));
});

test('jobs > 1 runs on independent boards from the factory', async (t) => {
  const reportsDir = mkdtempSync(join(tmpdir(), 'flipside-runner-'));
  const boards: FakeBoard[] = [];
  const r = await runScenarios({
    scenarios: [happy],
    board: async () => {
      const b = new FakeBoard();
      boards.push(b);
      return b;
    },
    seed: 1,
    repeat: 4,
    jobs: 2,
    reportsDir,
    workDir: join(reportsDir, 'work'),
  });
  t.is(boards.length, 2);
  t.is(r.passed, 4);
  t.true(boards.every((b) => b.commands.length > 0), 'both boards ran scenarios');
});

test('the invariants catch a lost canary and a torn env copy', async (t) => {
  const { CANARY_PATH } = await import('../invariants/invariants.js');
  const eatsCanary = defineScenario({
    name: 'fake-eats-canary',
    purpose: 'the data partition loses the canary',
    needs: ['shell'],
    async run(ctx) {
      await ctx.boot();
      (ctx.board as FakeBoard).data.set(CANARY_PATH, 'overwritten\n');
    },
  });
  const tearsEnv = defineScenario({
    name: 'fake-tears-env',
    purpose: 'an env copy fails its CRC',
    needs: ['shell'],
    async run(ctx) {
      await ctx.boot();
      (ctx.board as FakeBoard).envCorrupt = true;
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'flipside-runner-'));
  const r = await runScenarios({ scenarios: [eatsCanary, tearsEnv], board: new FakeBoard(), seed: 9, reportsDir: dir, workDir: join(dir, 'w') });
  const [canary, env] = r.results;
  t.is(canary!.status, 'failed');
  t.is(canary!.failure!.stage, "check 'data: canary intact'");
  t.is(env!.status, 'failed');
  t.is(env!.failure!.stage, "check 'env: both copies valid (offline)'");
});

test('a scenario that hangs past its limit fails with where it was, and the suite goes on', async (t) => {
  const hangs = defineScenario({
    name: 'fake-hangs',
    purpose: 'waits for a fault trigger that never comes',
    needs: ['power', 'console', 'shell'],
    timeoutMs: 50,
    async run() {
      await new Promise(() => undefined);
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'flipside-run-'));
  const r = await runScenarios({ scenarios: [hangs], board: new FakeBoard(), seed: 3, reportsDir: dir, workDir: join(dir, 'w') });
  const by = Object.fromEntries(r.results.map((x) => [x.scenario, x]));
  t.is(by['fake-hangs']!.status, 'failed');
  t.regex(by['fake-hangs']!.failure!.message, /did not finish within/);
});

test('a board with another client: the run records it for replays, a scenario needing what only Flipside offers is skipped naming the client', async (t) => {
  const reportsDir = mkdtempSync(join(tmpdir(), 'flipside-runner-client-'));
  const needsExactCuts = defineScenario({ name: 'fake-needs-exact-cuts', purpose: 'needs exact cuts', needs: ['power', 'exact-cuts'], async run() {} });
  const r = await runScenarios({ scenarios: [needsExactCuts], board: new FakeBoard({ client: 'mender' }), seed: 7, reportsDir, runId: 'client-run', workDir: join(reportsDir, 'work') });
  t.is(r.results[0]!.status, 'skipped');
  t.is(r.results[0]!.failure?.message, 'fake with the mender client lacks exact-cuts');
  t.deepEqual(r.results[0]!.settings, { client: 'mender' });
});
