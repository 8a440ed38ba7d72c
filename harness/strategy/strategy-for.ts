// The boot strategy a board file asks for, built one way for QEMU and lab boards alike.
import type { BoardFile } from '../../boards/schema.js';
import type { Console, Power } from '../types.js';
import { BoardStrategy, literal, type Strategy } from './board-strategy.js';
import { LinkStrategy, type LinkStrategyOptions } from './link-strategy.js';

/** How a board reached only through the server gets its shell (LinkStrategyOptions without what the file gives). */
export type ViaServer = Pick<LinkStrategyOptions, 'links' | 'openShell' | 'closeShell' | 'lastLines'>;

/**
 * BoardStrategy over the serial console with the board file's prompts and deadlines, or, with
 * `viaServer`, LinkStrategy: the link comes once the bootloader, Linux and then the connect daemon
 * are up, so its deadline is those stages' deadlines one after the other.
 */
export function strategyFor(file: BoardFile, o: { power: Power; console: Console; viaServer?: ViaServer }): Strategy {
  const t = file.timeouts;
  if (o.viaServer) return new LinkStrategy({ board: file.name, power: o.power, ...o.viaServer, timeouts: { shellMs: t.bootloaderMs + t.shellMs + t.clientReadyMs } });
  const c = file.console;
  return new BoardStrategy({
    power: o.power,
    console: o.console,
    prompts: { bootloader: literal(c.bootloaderPrompt), shell: literal(c.shellPrompt), clientReady: literal(c.clientReadyPrompt) },
    timeouts: t,
  });
}
