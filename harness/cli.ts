// `flipside-lab`: build images, boot a board to an interactive console, run scenarios, list what
// runs where. `main(argv)` returns the exit code (non-zero when any scenario failed), so bin/ and
// tests call the same function; `node --import tsx harness/cli.ts …` works too.
import { Command, CommanderError, Option } from 'commander';
import { join, resolve } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { REPORTS_DIR } from '../paths.js';
import { LAB_BUGS, type LabBug } from './board/lab-bugs.js';
import { registerDoctorCommand } from './doctor/command.js';
import { parseShard, type Shard } from './scenario/shard.js';
import { registerCampaignCommand } from './campaign/command.js';
import { registerFleetCommand } from './fleet/command.js';
import { selectScenarios, withOnlyVariants } from './scenario/select.js';
import { CAPABILITIES, type Capability } from './board/board.js';
import { DEFAULT_SWEEP, replayCommand } from './run/result.js';
import { CLIENT_KINDS, type ClientKind } from './scenario/client-kinds.js';

// Boards, drivers, image builder and runner load when a command needs them, not for `--help`.
const boardsModule = () => import('./board/open-board.js');
const loadScenarios = async () => (await import('./scenario/load.js')).loadScenarios();

const int = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${v}`);
  return n;
};

async function listCommand(json: boolean): Promise<number> {
  const [scenarios, boards] = await Promise.all([loadScenarios(), import('./board/open-board.js').then((m) => m.listBoards())]);
  const runsOn = (needs: readonly Capability[]) => boards.filter((b) => b.capabilities && needs.every((n) => b.capabilities!.includes(n))).map((b) => b.name);
  if (json) {
    console.log(JSON.stringify({ scenarios: scenarios.map((s) => ({ name: s.name, purpose: s.purpose, needs: s.needs, boards: runsOn(s.needs) })), boards }, null, 1));
    return 0;
  }
  console.log('Scenarios:');
  const w = Math.max(...scenarios.map((s) => s.name.length));
  for (const s of scenarios) {
    console.log(`  ${s.name.padEnd(w)}  ${s.purpose}`);
    console.log(`  ${''.padEnd(w)}  needs ${s.needs.join(', ')}; runs on ${runsOn(s.needs).join(', ') || '(no bound board)'}`);
  }
  console.log('\nBoards:');
  const bw = Math.max(...boards.map((b) => b.name.length));
  for (const b of boards) console.log(`  ${b.name.padEnd(bw)}  ${b.capabilities ? b.capabilities.join(', ') : `— ${b.note}`}`);
  console.log(`\nCapabilities: ${CAPABILITIES.join(', ')}`);
  return 0;
}

/** Boots a board to its shell, then hands the console to the terminal until Ctrl-]. */
async function bootCommand(boardName: string, client: ClientKind): Promise<number> {
  const { QemuBoard } = await import('./board/qemu-board.js');
  const board = await QemuBoard.open(boardName, { client });
  await board.prepare((l) => console.error(l));
  await board.reset({ runDir: mkdtempSync(join(tmpdir(), 'flipside-boot-')), dataFiles: {} });
  console.error(`booting ${board.name}…`);
  const stop = board.caps.console.onLine((l) => process.stdout.write(`${l.text}\n`));
  try {
    await board.strategy.transition('shell');
  } catch (e) {
    stop();
    await board.release();
    throw e;
  }
  stop();
  console.error('at the shell; Ctrl-] leaves (the board is powered off)');
  const { attachTerminal } = await import('./console/attach-terminal.js');
  const how = await attachTerminal(board.caps.console, { input: process.stdin, output: process.stdout });
  await board.release();
  if (how.by === 'console') console.error(`the console ended: ${how.reason}`);
  return how.by === 'user' ? 0 : 1;
}

/**
 * Attaches the terminal to a lab board's console as the board file describes it (serial, ser2net,
 * or a shell through the server with deviceconnect), without powering or booting anything.
 */
export async function consoleCommand(boardName: string, io: Parameters<typeof import('./console/attach-terminal.js').attachTerminal>[1] = { input: process.stdin, output: process.stdout }): Promise<number> {
  const [{ loadBoardFile }, { labConsoleSpec }, { openConsole }, { attachTerminal }] = await Promise.all([
    import('../boards/load.js'),
    import('./board/lab-board.js'),
    import('./console/open-console.js'),
    import('./console/attach-terminal.js'),
  ]);
  const file = await loadBoardFile(boardName);
  if (!file.lab) throw new Error(`board ${file.name} has no lab section (a QEMU board: use \`flipside-lab boot --board ${file.name}\`)`);
  // Through the server: the token checked and the device found (by id or identity) and accepted
  // first, so a wrong token or a device the user has not accepted is said as that.
  const lab = file.lab;
  const device = lab.console.type === 'deviceconnect' ? await (await import('./board/server-links.js')).ServerConnectLinks.fromBoardFile(file.name, lab.console).deviceId() : undefined;
  const con = await openConsole(labConsoleSpec(file, lab, undefined, device));
  console.error(`attached to ${con.name}; Ctrl-] leaves`);
  try {
    const how = await attachTerminal(con, io);
    if (how.by === 'user') return 0;
    console.error(`the console ended: ${how.reason}`);
    return 1;
  } finally {
    await con.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  let status = 0;
  const program = new Command('flipside-lab').description('Flipside hardware-in-the-loop lab: boards, scenarios, faults, reports').exitOverride();

  program
    .command('image')
    .description('disk images for QEMU boards (image build --help)')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]')
    .action(async (args: string[]) => {
      status = await (await import('../qemu/image/cli.js')).main(args);
    });

  program
    .command('list')
    .description('scenarios and boards, and which scenario runs on which board')
    .option('--json', 'machine-readable')
    .action(async (o: { json?: boolean }) => {
      status = await listCommand(!!o.json);
    });

  program
    .command('boot')
    .description('boot a board to its shell and attach the console (Ctrl-] leaves)')
    .option('--board <name>', 'board', 'qemu-aarch64')
    .addOption(new Option('--client <client>', "the image's client: flipside, or Debian's mender-client").choices([...CLIENT_KINDS]).default('flipside'))
    .action(async (o: { board: string; client: ClientKind }) => {
      status = await bootCommand(o.board, o.client);
    });

  program
    .command('console')
    .description("attach to a lab board's console as its board file says (serial, ser2net, deviceconnect), without booting it (Ctrl-] leaves)")
    .requiredOption('--board <name>', 'board name or board file path')
    .action(async (o: { board: string }) => {
      status = await consoleCommand(o.board);
    });

  program
    .command('run')
    .description('run scenarios (all when none named; name#k runs one sweep point)')
    .argument('[scenario...]')
    .option('--board <name>', 'board', 'qemu-aarch64')
    .option('--seed <n>', 'seed (printed with every result; the same seed replays the same faults)', int('--seed'))
    .option('--repeat <n>', 'run each scenario n times (seed, seed+1, …)', int('--repeat'), 1)
    .option('--jobs <n>', 'boards in parallel (QEMU: keep 1 on a 2-core host)', int('--jobs'), 1)
    .option('--sweep <n>', 'points of power-cut-sweep', int('--sweep'), DEFAULT_SWEEP)
    .option('--shard <k/n>', 'run only shard k of n of the planned runs (CI runners split a board\'s suite)', parseShard)
    .option('--reports <dir>', 'parent folder of the run reports', REPORTS_DIR)
    .addOption(new Option('--inject-bug <bug>', 'prove the scenarios catch a bug: run a client (or host-sim boot script) built with it').choices([...LAB_BUGS]))
    .addOption(new Option('--client <client>', "the client under test: flipside, or Debian's mender-client 3.4.0 (QEMU boards)").choices([...CLIENT_KINDS]).default('flipside'))
    .addOption(new Option('--json', 'print the summary as JSON at the end'))
    .action(async (names: string[], o: { board: string; seed?: number; repeat: number; jobs: number; sweep: number; shard?: Shard; reports: string; json?: boolean; injectBug?: LabBug; client: ClientKind }) => {
      const { scenarios, only } = selectScenarios(await loadScenarios(), names);
      const picked = scenarios.map((s) => (only.has(s.name) ? withOnlyVariants(s, only.get(s.name)!) : s));
      const { openBoard } = await boardsModule();
      const { runScenarios } = await import('./scenario/runner.js');
      const open = () => openBoard(o.board, { ...(o.injectBug ? { injectBug: o.injectBug } : {}), ...(o.client !== 'flipside' ? { client: o.client } : {}) });
      const board = o.jobs > 1 ? open : await open();
      const r = await runScenarios({
        scenarios: picked,
        board,
        seed: o.seed,
        repeat: Math.max(1, o.repeat),
        jobs: Math.max(1, o.jobs),
        sweep: o.sweep,
        ...(o.shard ? { shard: o.shard } : {}),
        ...(o.injectBug ? { injectBug: o.injectBug } : {}),
        reportsDir: resolve(o.reports),
        onProgress: (l) => console.error(l),
      });
      if (o.json) {
        console.log(
          JSON.stringify({
            run: r.runId,
            dir: r.dir,
            junit: r.reports.junit,
            html: r.reports.html,
            passed: r.passed,
            failed: r.failed,
            skipped: r.skipped,
            results: r.results.map((x) => ({ scenario: x.scenario, board: x.board, seed: x.seed, status: x.status, durationMs: x.durationMs, failure: x.failure?.message, replay: replayCommand(x) })),
          }),
        );
      } else {
        console.log(`report ${r.reports.html}`);
        console.log(`${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}`);
      }
      status = r.exitCode;
    });

  registerDoctorCommand(program, (code) => (status = code));
  registerCampaignCommand(program, (code) => (status = code), REPORTS_DIR);
  registerFleetCommand(program, (code) => (status = code));

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : e.exitCode || 1;
    console.error(`flipside-lab: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  return status;
}

// No top-level await: the CLI bundle is CommonJS (bin/build.js).
if (typeof process.argv[1] === 'string' && /harness[\\/]cli\.ts$/.test(process.argv[1])) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
