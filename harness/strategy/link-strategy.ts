// The boot strategy of a board the harness reaches only through the server (a deviceconnect
// shell, no serial cable): there is no bootloader prompt or client state line to follow from
// power-on. The board is at its shell once the device's connect link appears on the server and a
// shell session runs on it; a reboot or a power cut ends that link, and the next boot is the next
// link. A boot that never connects (a bricked device) fails at the board file's shell deadline,
// named as stage 'shell' as BoardStrategy names a hung boot.
import type { BoardState, Power } from '../types.js';
import { StrategyBase } from './board-strategy.js';

/** The device's connections to the server (a scenario's bundled one, or the user's: harness/board/server-links.ts). */
export interface ConnectLinks {
  /**
   * Resolves with the id of the device's first connection newer than `after` (null: any) once it
   * is up; rejects with NoLinkYet after `timeoutMs` without one (other errors: something the
   * user must fix, a refused token, a device the server has not accepted). Ids grow with each
   * connection.
   */
  next(after: number | null, timeoutMs: number): Promise<number>;
}

/** No new connection within the deadline: the boot hung, which the strategy reports as stage 'shell'. */
export class NoLinkYet extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoLinkYet';
  }
}

/** The wait for the device's link failed for a reason other than time (the server refused us). */
export class LinkStageError extends Error {
  constructor(
    readonly stage: BoardState,
    cause: Error,
  ) {
    super(`stage '${stage}' (waiting for the device's deviceconnect link): ${cause.message}`, { cause });
    this.name = 'LinkStageError';
  }
}

/** A scenario step that only a console from power-on can do (stop U-Boot, watch the kernel). */
export class NeedsBootConsole extends Error {
  constructor(board: string, stage: BoardState) {
    super(`${board}: stage '${stage}' needs a console from power-on (serial); this board has only a shell through the server once the device connects`);
    this.name = 'NeedsBootConsole';
  }
}

export interface LinkStrategyOptions {
  board: string;
  power: Power;
  links: ConnectLinks;
  /** Opens a shell session on the device's current connection, ending any session before it. */
  openShell(): Promise<void>;
  /** Ends the shell session (its connection is gone or going). */
  closeShell(): Promise<void>;
  timeouts: { shellMs: number };
  /** What the device printed last, for a boot that never connects (its serial log where it has one). */
  lastLines(): readonly string[];
  onStage?: (stage: BoardState) => void;
}

/** What a link that never came looks like in a StageTimeout. */
const LINK = /the device's deviceconnect link/;

export class LinkStrategy extends StrategyBase {
  /** The connection the open shell runs on: the next boot is a newer one. */
  private link: number | null = null;

  constructor(private readonly o: LinkStrategyOptions) {
    super(o.onStage);
  }

  async transition(target: BoardState): Promise<void> {
    if (this.current === target) return;
    if (target === 'off') {
      await this.o.power.cut();
      await this.o.closeShell();
      return this.reached('off');
    }
    if (target !== 'shell') throw new NeedsBootConsole(this.o.board, target);
    if (this.current !== 'off') await this.transition('off');
    await this.o.power.on();
    await this.awaitShell();
  }

  /** The device reboots by itself (a `reboot` typed into its shell): wait for its next connection. */
  async followBoot(target: Exclude<BoardState, 'off'>): Promise<void> {
    if (target !== 'shell') throw new NeedsBootConsole(this.o.board, target);
    // The old session stays until the new one opens: ending it now could kill the `reboot` it runs.
    this.current = 'off';
    await this.awaitShell();
  }

  private async awaitShell(): Promise<void> {
    const ms = this.o.timeouts.shellMs;
    try {
      this.link = await this.o.links.next(this.link, ms);
    } catch (e) {
      if (e instanceof NoLinkYet) this.timedOut('shell', LINK, ms, this.o.lastLines());
      this.current = 'unknown';
      throw new LinkStageError('shell', e as Error);
    }
    await this.o.openShell();
    this.reached('shell');
  }
}
