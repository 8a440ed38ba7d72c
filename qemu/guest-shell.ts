// Runs commands on the guest's console shell and returns their output and exit code. Output is
// taken between markers that only the shell's expansion produces (the echoed command line
// shows them with quotes inside), so echo and kernel noise around them do not matter.
import type { Console, Shell, ShellResult } from '../harness/types.js';

let seq = 0;

export class ConsoleShell implements Shell {
  constructor(
    private readonly console: Console,
    private readonly defaultTimeoutMs = 30_000,
  ) {}

  async run(command: string, opts: { timeoutMs?: number } = {}): Promise<ShellResult> {
    const n = `${process.pid.toString(36)}x${(++seq).toString(36)}`;
    await this.console.write(`echo "@@FS""B${n}@@"; ${command}; echo "@@FS""E${n}:$?@@"\n`);
    const re = new RegExp(`@@FSB${n}@@\\n([\\s\\S]*?)@@FSE${n}:(\\d+)@@`);
    const m = await this.console.expect(re, opts.timeoutMs ?? this.defaultTimeoutMs);
    return { stdout: m[1]!, code: Number(m[2]) };
  }
}

/** Parses `fw_printenv` output (name=value lines). */
export function parseEnvLines(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) vars[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return vars;
}
