// labgrid's strategy in TypeScript: a small state machine over protocol drivers (Power, Console,
// Shell). `transition(target)` first moves to the state before the target, then calls only
// protocol methods; a stage that does not arrive in time fails with an error naming the stage, the
// pattern it waited for and the last console lines, so a hung boot reads as "stage 'shell' hung",
// not as a bare timeout.
import type { BoardState, Console, Power } from '../types.js';

export const STATE_ORDER: readonly BoardState[] = ['off', 'bootloader', 'shell', 'client-ready'];

export interface StrategyPrompts {
  bootloader: RegExp;
  shell: RegExp;
  clientReady: RegExp;
}

export interface StrategyTimeouts {
  bootloaderMs: number;
  shellMs: number;
  clientReadyMs: number;
}

export class StageTimeout extends Error {
  constructor(
    readonly stage: BoardState,
    readonly pattern: RegExp,
    readonly timeoutMs: number,
    readonly lastLines: readonly string[],
  ) {
    super(
      `StageTimeout: stage '${stage}' (waiting for ${pattern}) timed out after ${Math.round(timeoutMs / 1000)} s; last console lines:\n` +
        (lastLines.length ? lastLines.map((l) => `  ${l}`).join('\n') : '  (none)'),
    );
    this.name = 'StageTimeout';
  }
}

export interface BoardStrategyOptions {
  power: Power;
  console: Console;
  prompts: StrategyPrompts;
  timeouts: StrategyTimeouts;
  /** Told each stage reached (fault triggers on boot stages listen here). */
  onStage?: (stage: BoardState) => void;
}

/**
 * What scenarios and the runner drive a board's boot through: BoardStrategy (a serial console from
 * power-on) or LinkStrategy (link-strategy.ts: a shell through the server once the device connects).
 */
export interface Strategy {
  readonly state: BoardState | 'unknown';
  transition(target: BoardState): Promise<void>;
  followBoot(target: Exclude<BoardState, 'off'>): Promise<void>;
  poweredOff(): void;
}

/** What every strategy keeps alike: the state it believes the board is in, told to onStage. */
export abstract class StrategyBase implements Strategy {
  /** 'unknown' until the first transition: the board may be in any state when we bind to it. */
  protected current: BoardState | 'unknown' = 'unknown';

  constructor(private readonly onStage?: (stage: BoardState) => void) {}

  get state(): BoardState | 'unknown' {
    return this.current;
  }

  abstract transition(target: BoardState): Promise<void>;
  abstract followBoot(target: Exclude<BoardState, 'off'>): Promise<void>;

  /** Records that power went away outside the strategy (a fault cut it through the Power driver). */
  poweredOff(): void {
    this.current = 'off';
  }

  protected reached(stage: BoardState): void {
    this.current = stage;
    this.onStage?.(stage);
  }

  /** A stage that did not come: the board's state is unknown until the next transition. */
  protected timedOut(stage: BoardState, pattern: RegExp, timeoutMs: number, lastLines: readonly string[]): never {
    this.current = 'unknown';
    throw new StageTimeout(stage, pattern, timeoutMs, lastLines.slice(-12));
  }
}

export class BoardStrategy extends StrategyBase {
  constructor(private readonly o: BoardStrategyOptions) {
    super(o.onStage);
  }

  async transition(target: BoardState): Promise<void> {
    if (this.current === target) return;
    if (target === 'off') {
      await this.o.power.cut();
      return this.reached('off');
    }
    // Going "up" from a later state (shell → bootloader) needs a fresh boot: through off.
    const before = STATE_ORDER[STATE_ORDER.indexOf(target) - 1]!;
    if (this.current !== 'unknown' && STATE_ORDER.indexOf(this.current) > STATE_ORDER.indexOf(before)) await this.transition('off');
    await this.transition(before);
    if (target === 'bootloader') await this.o.power.on();
    await this.awaitStage(target);
  }

  /**
   * The board is booting by itself (a `reboot` typed into its shell, a watchdog): follow it up to
   * `target` without touching power, each stage still timed and named.
   */
  async followBoot(target: Exclude<BoardState, 'off'>): Promise<void> {
    this.current = 'off';
    for (const stage of STATE_ORDER.slice(1, STATE_ORDER.indexOf(target) + 1)) await this.awaitStage(stage);
  }

  private async awaitStage(stage: BoardState): Promise<void> {
    const { prompts, timeouts } = this.o;
    const [re, ms] =
      stage === 'bootloader' ? [prompts.bootloader, timeouts.bootloaderMs] : stage === 'shell' ? [prompts.shell, timeouts.shellMs] : [prompts.clientReady, timeouts.clientReadyMs];
    try {
      await this.o.console.expect(re, ms);
    } catch {
      this.timedOut(stage, re, ms, this.o.console.transcript().slice(-12).map((l) => l.text));
    }
    this.reached(stage);
  }
}

/** A literal prompt from a board file as a RegExp. */
export function literal(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}
