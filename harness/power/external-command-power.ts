// Power switched by running a command (relay tool, USB hub, GPIO, a lab's own script): labgrid's
// ExternalPowerDriver. An argv array runs without a shell; a string runs through /bin/sh.
import { execa } from 'execa';
import { SwitchedPower } from './switched-power.js';
import { fillTemplate, type TemplateVars } from './template.js';

export type CommandTemplate = string | readonly string[];

export interface ExternalCommandPowerOptions {
  name: string;
  on: CommandTemplate;
  off: CommandTemplate;
  /** Values for `{placeholders}` in the commands. */
  vars?: TemplateVars;
  timeoutMs?: number;
}

export class ExternalCommandPower extends SwitchedPower {
  private readonly commands: { on: CommandTemplate; off: CommandTemplate };
  private readonly timeoutMs: number;

  constructor(opts: ExternalCommandPowerOptions) {
    super(opts.name);
    const vars = opts.vars ?? {};
    // Fill now, so a missing value fails when the board is loaded rather than mid-test.
    this.commands = { on: fill(opts.on, vars, `power ${opts.name} on`), off: fill(opts.off, vars, `power ${opts.name} off`) };
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  protected async switchTo(on: boolean): Promise<void> {
    const command = on ? this.commands.on : this.commands.off;
    const shown = typeof command === 'string' ? command : command.join(' ');
    const result =
      typeof command === 'string'
        ? await execa(command, { shell: '/bin/sh', reject: false, timeout: this.timeoutMs })
        : await execa(command[0]!, command.slice(1), { reject: false, timeout: this.timeoutMs });
    if (result.failed) {
      const why = result.timedOut
        ? `timed out after ${this.timeoutMs} ms`
        : result.exitCode !== undefined
          ? `exit ${result.exitCode}`
          : result.originalMessage ?? result.shortMessage;
      const stderr = String(result.stderr ?? '').trim();
      throw new Error(`power ${this.name}: ${on ? 'on' : 'off'} command \`${shown}\` failed (${why})${stderr ? `: ${stderr}` : ''}`);
    }
  }
}

function fill(command: CommandTemplate, vars: TemplateVars, what: string): CommandTemplate {
  if (typeof command === 'string') {
    if (!command.trim()) throw new Error(`${what}: empty command`);
    return fillTemplate(command, vars);
  }
  if (command.length === 0 || !command[0]) throw new Error(`${what}: empty command`);
  return command.map((arg) => fillTemplate(arg, vars));
}
