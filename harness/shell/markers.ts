// The marker protocol (labgrid's ShellDriver idea): the command is wrapped in two echoes of a
// random marker, so its output is found between markers no matter what else the console shows.
// Each marker is typed as two quoted halves ('FS12''ab34'S), so the terminal's echo of the typed
// line never contains the joined marker that the shell prints.
import { randomBytes } from 'node:crypto';

export interface MarkedCommand {
  /** The line to type (without the newline). */
  line: string;
  /** Matches the start marker and the newline after it. */
  start: RegExp;
  /** Matches the output before the end marker (group 1) and the exit code (group 2). */
  end: RegExp;
}

/** A kernel message that cut into a line, up to the end of that line. */
const KERNEL_TAIL = String.raw`\[\s*\d+\.\d+\] [^\n]*`;

export function markCommand(command: string): MarkedCommand {
  if (command.includes('\n') || command.includes('\r')) {
    throw new Error(`shell commands must be one line (join with ; or &&): ${JSON.stringify(command)}`);
  }
  if (/(^|\s)#[^'"]*$/.test(command)) throw new Error(`shell command ends in a comment, which would hide the end marker: ${command}`);
  if (/[^&]&\s*$|^\s*$/.test(command)) throw new Error(`shell command is empty or ends in &: ${JSON.stringify(command)}`);
  const a = `FS${randomBytes(3).toString('hex')}`;
  const b = randomBytes(3).toString('hex');
  return {
    // One typed line: with readline shells a second line would be echoed after the next prompt,
    // inside the output. The command runs in the current shell, so `cd` and variables persist; a
    // trailing `#` comment would hide the end marker, so it is refused.
    line: `echo '${a}''${b}S'; ${command}; echo '${a}''${b}E'$?`,
    // A kernel message may cut in between the marker and its newline; it is tolerated there.
    start: new RegExp(`${a}${b}S(?:${KERNEL_TAIL})?\\n`),
    end: new RegExp(`^([\\s\\S]*?)${a}${b}E(\\d+)(?:${KERNEL_TAIL})?\\n`),
  };
}

/** Kernel console messages (printk with timestamps), including ones that cut into a line. */
export const KERNEL_MESSAGE = /\[\s*\d+\.\d+\] [^\n]*\n/g;

/** The command's stdout from what was seen between the markers. */
export function extractStdout(between: string, dropKernelMessages: boolean): string {
  let out = between.replace(/\r/g, '');
  if (dropKernelMessages) out = out.replace(KERNEL_MESSAGE, '');
  return out.endsWith('\n') ? out.slice(0, -1) : out;
}
