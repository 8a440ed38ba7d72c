export { ConsoleShell, ShellTimeoutError, type ConsoleShellOptions, type RunOptions } from './console-shell.js';
export { markCommand, extractStdout } from './markers.js';
export { parseEnvLines } from '../../bootenv/env-lines.js';
