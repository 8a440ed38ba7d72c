// Power switched by a person: print what to do, wait for Enter. In CI there is nobody to press it,
// so without a terminal this fails at once instead of hanging until the job times out.
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { SwitchedPower } from './switched-power.js';

export interface ManualPowerOptions {
  name: string;
  input?: Readable & { isTTY?: boolean };
  output?: Writable;
  /** Accept an input that is not a terminal (a pipe from a lab operator tool, tests). */
  allowNonTty?: boolean;
}

export class ManualPower extends SwitchedPower {
  private readonly input: Readable & { isTTY?: boolean };
  private readonly output: Writable;
  private readonly allowNonTty: boolean;

  constructor(opts: ManualPowerOptions) {
    super(opts.name);
    this.input = opts.input ?? process.stdin;
    this.output = opts.output ?? process.stderr;
    this.allowNonTty = opts.allowNonTty ?? false;
  }

  protected async switchTo(on: boolean): Promise<void> {
    const action = on ? 'Switch ON' : 'Switch OFF (pull the plug)';
    if (!this.input.isTTY && !this.allowNonTty) {
      throw new Error(`power ${this.name}: manual power needs someone at a terminal to "${action}", but the input is not a TTY (CI?); configure a relay, PDU or hub for this board`);
    }
    this.output.write(`\n>>> ${action} board ${this.name}, then press Enter: `);
    await readOneLine(this.input, this.name);
  }
}

function readOneLine(input: Readable, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input, terminal: false });
    let answered = false;
    rl.once('line', () => {
      answered = true;
      rl.close();
      resolve();
    });
    rl.once('close', () => {
      if (!answered) reject(new Error(`power ${name}: input ended before Enter was pressed`));
    });
  });
}
