// The board model's protocols (labgrid's split: resources → drivers → strategies). A scenario asks
// for these capabilities, never for a board; each driver implements one of them.

/** One line seen on a console, stamped when its last byte arrived. */
export interface ConsoleLine {
  t: number;
  text: string;
}

export interface Console {
  readonly name: string;
  open(): Promise<void>;
  close(): Promise<void>;
  /** Sends text as typed (drivers apply the board's per-character pacing). */
  write(text: string): Promise<void>;
  /** Resolves with the match once `re` matches the console output seen since the last expect. */
  expect(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Every line seen so far, with timestamps (the report's console track). */
  transcript(): readonly ConsoleLine[];
  /** Called for each complete line as it arrives (fault triggers listen here). */
  onLine(listener: (line: ConsoleLine) => void): () => void;
}

export interface ShellResult {
  stdout: string;
  code: number;
}

export interface Shell {
  /** Runs a command on the board's shell and returns its output and exit code. */
  run(command: string, opts?: { timeoutMs?: number }): Promise<ShellResult>;
}

export interface Power {
  readonly name: string;
  on(): Promise<void>;
  /** Cuts power at once, with no chance for the board to flush anything. */
  cut(): Promise<void>;
  /** Cut, wait, on. */
  cycle(offMs?: number): Promise<void>;
}

export interface NetworkShape {
  rateKbps?: number;
  lossPct?: number;
  latencyMs?: number;
}

export interface Network {
  readonly name: string;
  drop(): Promise<void>;
  restore(): Promise<void>;
  shape(shape: NetworkShape): Promise<void>;
}

export interface Storage {
  /** Reads the bootloader env offline (board powered off), where the board allows it. */
  readEnv(): Promise<Record<string, string>>;
  /** Reads a file from a partition offline, or null when absent. */
  readFile?(partition: number, path: string): Promise<Buffer | null>;
}

export type BoardState = 'off' | 'bootloader' | 'shell' | 'client-ready';

/** The faults a scenario can inject, as data: the same seed replays the same list. */
export type FaultKind = 'power-cut' | 'network-drop' | 'network-shape' | 'server-down' | 'reset';

export type Trigger =
  | { on: 'state'; state: string; nth?: number }
  | { on: 'server-status'; status: string; nth?: number }
  | { on: 'bytes-written'; bytes: number }
  | { on: 'bytes-sent'; bytes: number }
  | { on: 'time'; ms: number }
  | { on: 'boot-stage'; stage: BoardState; nth?: number };

export interface Fault {
  kind: FaultKind;
  at: Trigger;
  /** How long the fault lasts before it is undone (network faults, server-down); power cuts last until power-on. */
  durationMs?: number;
  shape?: NetworkShape;
}
