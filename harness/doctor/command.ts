// `flipside-lab doctor --board NAME [--json]`: checks a board's bootloader integration (env
// location both ways, redundant copies, rollback of an uncommitted update) and prints the fix for
// each finding. Registered on the CLI's commander program by harness/cli.ts.
import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPORTS_DIR } from '../../paths.js';
import type { Board } from '../board/board.js';
import type { DoctorTarget } from './bench.js';
import { DOCTOR_CHECK_IDS } from './check-ids.js';
import type { DoctorReport } from './runner.js';

// The boards (drivers, image builder) load when the doctor runs, not when the CLI starts.
const openBoard = async (name: string): Promise<Board> => (await import('../board/open-board.js')).openBoard(name);

export interface DoctorCommandDeps {
  openBoard: (name: string) => Promise<Board>;
  /** Where the doctor's scenario folder (console transcript) goes. */
  reportsDir: string;
  print: (text: string) => void;
  progress: (line: string) => void;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function asTarget(board: Board): Board & DoctorTarget {
  if (!('file' in board) || typeof (board as { file?: unknown }).file !== 'object') throw new Error(`board ${board.name}: the doctor needs a board bound from a board file (QEMU or lab)`);
  return board as Board & DoctorTarget;
}

export interface DoctorCommandOptions {
  board: string;
  json?: boolean;
  /** false (--no-flash): a lab board keeps the card it has instead of being flashed with a fresh image. */
  flash: boolean;
  ubootPrompt: string;
}

export async function doctorCommand(o: DoctorCommandOptions, deps: DoctorCommandDeps): Promise<number> {
  const board = asTarget(await deps.openBoard(o.board));
  // Every check talks to U-Boot (its prompt, its env copies); a GRUB board's integration is the grubenv file.
  if (board.file.bootloader.type !== 'uboot') {
    throw new Error(`board ${board.name} boots with ${board.file.bootloader.type}: the doctor checks U-Boot integrations only; GRUB's A/B path is covered by FLIPSIDE_QEMU_BOARD=${board.name} npx ava harness/drivers/qemu/boot-ab.test.ts and the scenario suite`);
  }
  // Before anything is flashed: every check drives U-Boot, which a shell through the server never shows.
  if (!board.capabilities.has('boot-console'))
    throw new Error(`board ${board.name}: the doctor talks to U-Boot, which needs a console from power-on (boot-console); this board's console is a shell through the server (deviceconnect): give it a serial / ser2net console for the doctor`);
  // A QEMU board has no disk until reset(); a lab board is flashed unless told to keep its card.
  const isLab = 'lab' in board;
  if (o.flash || !isLab) {
    const runDir = join(deps.reportsDir, `doctor-${board.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    mkdirSync(runDir, { recursive: true });
    await board.prepare(deps.progress);
    await board.reset({ runDir, dataFiles: {} });
  }
  // The checks load when the doctor runs, not when the CLI starts.
  const [{ runDoctor }, { formatDoctorReport }] = await Promise.all([import('./runner.js'), import('./format.js')]);
  let report: DoctorReport;
  try {
    report = await runDoctor(board, { log: deps.progress, uboot: { prompt: new RegExp(`${escape(o.ubootPrompt)}$`), interruptMs: 15_000 } });
  } catch (e) {
    await board.release().catch(() => undefined);
    throw e;
  }
  // The transcript is the evidence behind every finding: its path goes into the report.
  report.logs = await board.release();
  deps.print(o.json ? JSON.stringify(report, null, 1) : formatDoctorReport(report));
  return report.ok ? 0 : 1;
}

/** Adds `doctor` to flipside-lab; `setStatus` receives the exit code (1 when a check failed). */
export function registerDoctorCommand(program: Command, setStatus: (code: number) => void, deps: Partial<DoctorCommandDeps> = {}): Command {
  const d: DoctorCommandDeps = {
    openBoard: deps.openBoard ?? ((name) => openBoard(name)),
    reportsDir: deps.reportsDir ?? REPORTS_DIR,
    print: deps.print ?? ((t) => console.log(t)),
    progress: deps.progress ?? ((l) => console.error(l)),
  };
  return program
    .command('doctor')
    .description(`check a board's bootloader integration and print the fix for each finding (${DOCTOR_CHECK_IDS.join(', ')})`)
    .option('--board <name>', 'board', 'qemu-aarch64')
    .option('--json', 'machine-readable report')
    .option('--no-flash', 'lab boards: check the card as it is instead of flashing a fresh image')
    .option('--uboot-prompt <text>', "U-Boot's command prompt (CONFIG_SYS_PROMPT)", '=> ')
    .action(async (o: DoctorCommandOptions) => {
      setStatus(await doctorCommand(o, d));
    });
}
