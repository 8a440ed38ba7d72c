// The harness's shell on a board reached through the server (a deviceconnect session, no serial
// cable), shared by the QEMU netonly board and lab boards: the session's prompt set as the board
// file says, and a session that ends under a running command (the device disconnected: a crash,
// a reboot nobody asked for, the network) reported as that, naming the stage the board was at,
// instead of as a console that closed.
import type { Console, Shell, ShellResult } from '../types.js';
import { literal } from '../strategy/board-strategy.js';

/**
 * The remote shell is not a login shell on every image (no pty without util-linux script): set
 * the board's prompt, typed so that its echo does not already match it.
 */
export async function setShellPrompt(con: Console, prompt: string, timeoutMs = 30_000): Promise<void> {
  await con.write(`PS1='${prompt.slice(0, 1)}''${prompt.slice(1)}'; export PS1\n`);
  await con.expect(literal(prompt), timeoutMs);
}

/** A command's session ended under it: the device's deviceconnect link went away, or its shell did. */
export class LinkLostError extends Error {
  constructor(
    readonly board: string,
    readonly stage: 'shell',
    readonly command: string,
    cause: Error,
  ) {
    super(`${board}: the shell session through deviceconnect ended at stage '${stage}' while running \`${command}\`: ${cause.message}`, { cause });
    this.name = 'LinkLostError';
  }
}

export class LinkShell implements Shell {
  constructor(
    private readonly board: string,
    private readonly inner: Shell,
  ) {}

  async run(command: string, opts?: { timeoutMs?: number }): Promise<ShellResult> {
    try {
      return await this.inner.run(command, opts);
    } catch (e) {
      // A power cut the harness made abandons the wait itself (ExpectAbandonedError): that is no link loss.
      if (e instanceof Error && e.name === 'ConsoleClosedError') throw new LinkLostError(this.board, 'shell', command, e);
      throw e;
    }
  }
}
