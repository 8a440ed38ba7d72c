// Writes a card image for a lab board, as its board file's `lab.flash` says: through an SD mux
// (switch the card to the host, dd, switch it back), dd to a card reader (the card moved by hand),
// the lab's own command (`{image}` filled in), or by a person. The board is powered off first by
// the caller; every step that needs a person asks on the terminal and refuses to hang in CI.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import type { BoardFile } from '../../boards/schema.js';
import { fillTemplate, type TemplateVars } from '../power/template.js';

export type FlashSpec = NonNullable<BoardFile['lab']>['flash'];
type Command = string | readonly string[];

export interface FlashOptions {
  log?: (line: string) => void;
  /** Asks a person to do something and resolves once they confirm (default: the terminal). */
  ask?: (what: string) => Promise<void>;
  /** How long a muxed or inserted card may take to appear as a block device. */
  deviceWaitMs?: number;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs a board-file command: an argv array without a shell, a string through /bin/sh (values quoted). */
export async function runTemplate(command: Command, vars: TemplateVars, what: string, timeoutMs = 30 * 60_000): Promise<void> {
  const r =
    typeof command === 'string'
      ? await execa(fillTemplate(command, vars, shellQuote), { shell: '/bin/sh', reject: false, timeout: timeoutMs })
      : await execa(fillTemplate(command[0]!, vars), command.slice(1).map((a) => fillTemplate(a, vars)), { reject: false, timeout: timeoutMs });
  if (r.failed) {
    const why = r.timedOut ? `timed out after ${timeoutMs} ms` : r.exitCode !== undefined ? `exit ${r.exitCode}` : (r.shortMessage ?? 'failed to start');
    throw new Error(`${what}: \`${r.command}\` failed (${why})${r.stderr ? `: ${String(r.stderr).trim()}` : ''}`);
  }
}

export async function waitForDevice(device: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!existsSync(device)) {
    if (Date.now() > deadline) throw new Error(`flash: ${device} did not appear within ${ms} ms (is the card in the reader / the mux switched to the host?)`);
    await sleep(200);
  }
}

async function ddTo(image: string, device: string, log: (l: string) => void): Promise<void> {
  const t0 = Date.now();
  // conv=fsync: the card must hold every byte before it is handed back to the board.
  const r = await execa('dd', [`if=${image}`, `of=${device}`, 'bs=4M', 'conv=fsync', 'status=none'], { reject: false });
  if (r.failed) throw new Error(`flash: dd to ${device} failed: ${String(r.stderr).trim() || r.shortMessage}`);
  log(`flash: wrote ${image} to ${device} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** The terminal as the default person to ask; without one (CI) a manual step fails at once. */
export async function askOnTerminal(what: string): Promise<void> {
  if (!process.stdin.isTTY) throw new Error(`flash needs a person to "${what}", but stdin is not a terminal (CI?); use an SD mux or a flash command`);
  process.stderr.write(`\n>>> ${what}, then press Enter: `);
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  process.stdin.pause();
}

export async function flashImage(spec: FlashSpec, image: string, opts: FlashOptions = {}): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const ask = opts.ask ?? askOnTerminal;
  const waitMs = opts.deviceWaitMs ?? 30_000;
  switch (spec.type) {
    case 'sd-mux':
      await runTemplate(spec.toHost, spec.vars, 'flash: switching the SD mux to the host');
      await waitForDevice(spec.device, waitMs);
      await ddTo(image, spec.device, log);
      await runTemplate(spec.toBoard, spec.vars, 'flash: switching the SD mux to the board');
      return;
    case 'dd':
      if (!existsSync(spec.device)) await ask(`Put the board's SD card into the reader (${spec.device})`);
      await waitForDevice(spec.device, waitMs);
      await ddTo(image, spec.device, log);
      await ask(`Move the SD card from the reader back into the board`);
      return;
    case 'command': {
      const t0 = Date.now();
      await runTemplate(spec.command, { ...spec.vars, image }, 'flash', spec.timeoutMs);
      log(`flash: command wrote ${image} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return;
    }
    case 'manual':
      await ask(`Write ${image} to the board's SD card (e.g. dd if=${image} of=/dev/sdX bs=4M conv=fsync) and put it back into the board`);
      return;
  }
}
