// Loads and validates the board files under boards/ (schema: boards/schema.ts). Errors name the
// file and each failing field.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BOARDS_DIR } from '../paths.js';
import { isSimulated, schemaOf, type AnyBoardFile, type BoardFile, type SimulatedBoardFile } from './schema.js';

export class BoardFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'BoardFileError';
  }
}

/** Validates parsed YAML against the schema its bootloader type picks; errors name the file and each failing field path. */
export function parseAnyBoardFile(data: unknown, file: string): AnyBoardFile {
  const r = schemaOf(data).safeParse(data);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new BoardFileError(file, lines.join('; '));
  }
  return { ...r.data, file } as AnyBoardFile;
}

/** A device board's parsed YAML (emulated or real); a simulated board is an error here. */
export function parseBoardFile(data: unknown, file: string): BoardFile {
  return deviceBoard(parseAnyBoardFile(data, file));
}

function deviceBoard(board: AnyBoardFile): BoardFile {
  if (isSimulated(board))
    throw new BoardFileError(board.file, `board ${board.name} is simulated (bootloader.type simulated): it has no disk image, console or power of a device`);
  return board;
}

function simulatedBoard(board: AnyBoardFile): SimulatedBoardFile {
  if (!isSimulated(board)) throw new BoardFileError(board.file, `board ${board.name} is a device board, not a simulated one`);
  return board;
}

/** boards/NAME.yaml for a name, the path itself for anything with a slash or a dot. */
function boardPath(nameOrPath: string, boardsDir: string): string {
  const file = /[/.]/.test(nameOrPath) ? resolve(nameOrPath) : join(boardsDir, `${nameOrPath}.yaml`);
  if (!existsSync(file)) {
    const known = listBoards(boardsDir).join(', ');
    throw new BoardFileError(file, `no such board file (known boards: ${known})`);
  }
  return file;
}

function parseText(text: string, file: string): AnyBoardFile {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new BoardFileError(file, `not valid YAML: ${(e as Error).message}`);
  }
  const board = parseAnyBoardFile(data, file);
  if (board.name !== basename(file, '.yaml'))
    throw new BoardFileError(file, `name: "${board.name}" does not match the file name`);
  return board;
}

/** Loads any board, device or simulated, by name (boards/NAME.yaml) or by path to a YAML file. */
export async function loadAnyBoardFile(nameOrPath: string, boardsDir = BOARDS_DIR): Promise<AnyBoardFile> {
  const file = boardPath(nameOrPath, boardsDir);
  return parseText(await readFile(file, 'utf8'), file);
}

/** Loads a device board (emulated or real) by name or path: what the image builder and drivers take. */
export async function loadBoardFile(nameOrPath: string, boardsDir = BOARDS_DIR): Promise<BoardFile> {
  return deviceBoard(await loadAnyBoardFile(nameOrPath, boardsDir));
}

/** Loads a simulated board by name or path; synchronous, as the simulation builds its board from it. */
export function loadSimulatedBoardFile(nameOrPath: string, boardsDir = BOARDS_DIR): SimulatedBoardFile {
  const file = boardPath(nameOrPath, boardsDir);
  return simulatedBoard(parseText(readFileSync(file, 'utf8'), file));
}

/** Names of every board file under boardsDir, device and simulated. */
export function listBoards(boardsDir = BOARDS_DIR): string[] {
  if (!existsSync(boardsDir)) return [];
  return readdirSync(boardsDir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => basename(f, '.yaml'))
    .sort();
}
