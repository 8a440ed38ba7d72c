// The one machine-readable line per state transition, `FLIPSIDE-STATE {"state":…,"deployment":…,"t":…}`,
// on stdout and on the console log (e.g. /dev/kmsg) when configured. The harness triggers faults
// from it, so it is written synchronously: when the next statement runs, the line is out.
import { closeSync, openSync, writeSync } from 'node:fs';

export const STATE_LINE_PREFIX = 'FLIPSIDE-STATE ';

export interface StateLine {
  state: string;
  deployment: string | null;
  t: number;
}

export function formatStateLine(l: StateLine): string {
  return `${STATE_LINE_PREFIX}${JSON.stringify({ state: l.state, deployment: l.deployment, t: l.t })}`;
}

/** Parses a console line; null when it is not a state line. */
export function parseStateLine(line: string): StateLine | null {
  const i = line.indexOf(STATE_LINE_PREFIX);
  if (i < 0) return null;
  try {
    const j = JSON.parse(line.slice(i + STATE_LINE_PREFIX.length)) as StateLine;
    return typeof j.state === 'string' && typeof j.t === 'number' ? j : null;
  } catch {
    return null;
  }
}

export function makeStateLogger(consoleLog?: string, stdoutFd = 1): (state: string, deployment: string | null) => void {
  return (state, deployment) => {
    const text = `${formatStateLine({ state, deployment, t: Date.now() })}\n`;
    writeSync(stdoutFd, text);
    if (consoleLog) {
      // A missing or unwritable console must never stop an update: the line is best effort there.
      try {
        const fd = openSync(consoleLog, 'a');
        try {
          writeSync(fd, text);
        } finally {
          closeSync(fd);
        }
      } catch {
        /* ignored on purpose */
      }
    }
  };
}
