// The scenario API: one file per scenario under scenarios/, `export default defineScenario({...})`.
// A scenario names the capabilities it needs (never a board) and the artifacts it wants on the
// device; the runner gives it a fresh board and a context, then checks the invariants.
import type { Rng } from '../faults/prng.js';
import type { Timeline } from '../run/timeline.js';
import type { ArtifactRole, Board, BoardCaps, Capability, LabVersions } from '../board/board.js';
import type { Strategy } from '../strategy/board-strategy.js';
import type { Fault, ShellResult } from '../types.js';
import type { LabServer } from '../server/lab-server.js';
import type { ClientCommands, ClientKind } from './client.js';

export interface ScenarioParams {
  /** Points of a sweep (`--sweep N`). */
  sweep: number;
}

/** One concrete run of a scenario that expands into several (a sweep point). */
export interface ScenarioVariant {
  /** Appended to the name: `power-cut-sweep#2`. */
  id: string;
  /** Shown in progress lines and the timeline. */
  describe: string;
  data: unknown;
}

export interface ScenarioDefinition {
  name: string;
  /** One line: what the scenario proves. */
  purpose: string;
  needs: readonly Capability[];
  /** Keys for the device's fallback config (/data/flipside/flipside.conf), e.g. shorter timeouts; it survives updates. */
  deviceConfig?: Record<string, unknown>;
  /** The device trusts the lab's signing key and refuses artifacts it did not sign (ArtifactVerifyKey). */
  requireSignature?: boolean;
  /** Artifacts to find on the device (standalone: /data/<role>.mender), placed before the first boot. */
  artifacts?: readonly ArtifactRole[];
  /** Expands one scenario into several runs, each on a fresh board (sweeps). Seeded: same seed, same points. */
  variants?: (params: ScenarioParams & { seed: number }) => ScenarioVariant[];
  /** The whole run's limit, boot included (default DEFAULT_SCENARIO_TIMEOUT_MS): a hang fails, it never stalls a suite. */
  timeoutMs?: number;
  run(ctx: ScenarioContext): Promise<void>;
}

/** Long enough for the slowest emulated board (raspi3b happy-path: 480 s measured under load). */
export const DEFAULT_SCENARIO_TIMEOUT_MS = 20 * 60_000;

/** A scenario that ran past its limit. */
export class ScenarioTimeout extends Error {
  constructor(readonly scenario: string, readonly timeoutMs: number) {
    super(`scenario ${scenario} did not finish within ${Math.round(timeoutMs / 60_000)} min: stopped (the last timeline events say where it was)`);
  }
}

export function defineScenario(def: ScenarioDefinition): ScenarioDefinition {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(def.name)) throw new Error(`scenario name "${def.name}": use lower-case letters, digits and -`);
  if (!def.purpose || def.purpose.includes('\n')) throw new Error(`scenario ${def.name}: purpose must be one line`);
  return def;
}

/** A fault armed by `ctx.fault()`. */
export interface FaultHandle {
  readonly fault: Fault;
  /** Resolves once the fault has been injected (after its delay). */
  readonly injected: Promise<void>;
  hasFired(): boolean;
  /** Stops waiting for the trigger. */
  dispose(): void;
}

export interface FaultOptions {
  /** Wait this long after the trigger before injecting (e.g. a cut some way into a state). */
  delayMs?: number;
}

export interface ScenarioContext {
  readonly name: string;
  readonly board: Board;
  readonly caps: BoardCaps;
  readonly strategy: Strategy;
  readonly seed: number;
  readonly rng: Rng;
  readonly timeline: Timeline;
  readonly params: ScenarioParams;
  readonly variant: ScenarioVariant | null;
  readonly versions: LabVersions;
  /** The client under test's command lines (`flipside …` or `mender …`): type them with sh(). */
  readonly client: ClientCommands;
  /**
   * The value for the client under test, where the clients differ by design (Mender does not
   * resume a download across a reboot; Flipside does): the scenario states both outcomes.
   */
  perClient<T>(values: Record<ClientKind, T>): T;
  /** The reference server of a managed scenario (needs 'server'); throws for standalone ones. */
  readonly server: LabServer;
  /** Host path of an artifact the board built (to upload to the server). */
  hostArtifact(role: ArtifactRole): string;
  /** Device path of an artifact the scenario listed in `artifacts`. */
  artifact(role: ArtifactRole): string;
  log(text: string): void;
  /** Runs a shell command on the board and records it (and its exit code) on the timeline. */
  sh(command: string, opts?: { timeoutMs?: number }): Promise<ShellResult>;
  /** Powers on (or follows a boot) until the shell prompt; no-op when already at the shell. */
  boot(): Promise<void>;
  /** `reboot -f` typed into the shell, then follows the boot back to the shell. */
  reboot(): Promise<void>;
  /** Cuts power now. */
  powerCut(): Promise<void>;
  /** Arms a fault against the board's event sources (console state lines, bytes written, time). */
  fault(fault: Fault, opts?: FaultOptions): FaultHandle;
  /**
   * Runs a command that a fault may interrupt: resolves with its result, or with `cut: true` once
   * the fault was injected first (the command's own output is then lost with the power).
   */
  runUntilFault(command: string, handle: FaultHandle, opts?: { timeoutMs?: number }): Promise<{ cut: true } | { cut: false; result: ShellResult }>;
  /**
   * Records a named check on the timeline. `fn` passes by returning true or nothing; returning
   * false or a message string (the reason), or throwing, fails the scenario at that check.
   */
  check(name: string, fn: () => boolean | string | void | Promise<boolean | string | void>): Promise<void>;
  /** The version(s) the invariants must find committed at the end (default: the current version). */
  expectFinal(version: string | readonly string[]): void;
}

export class CheckFailed extends Error {
  constructor(
    readonly check: string,
    detail: string,
  ) {
    super(`check '${check}' failed: ${detail}`);
    this.name = 'CheckFailed';
  }
}
