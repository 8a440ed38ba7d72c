// Hands a console to a terminal: its lines go to `output`, typed input goes to the console (a
// carriage return as a newline), until Ctrl-] or the end of input. Resolves with why it ended;
// a console that closes by itself (a lost link that does not come back) ends it too.
import type { Readable, Writable } from 'node:stream';
import type { Console } from '../types.js';

export const DETACH_KEY = 0x1d; // Ctrl-]

export type Detached = { by: 'user' } | { by: 'console'; reason: string };

export async function attachTerminal(con: Console, io: { input: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown }; output: Writable }): Promise<Detached> {
  const { input, output } = io;
  const echo = con.onLine((l) => output.write(`${l.text}\n`));
  const raw = input.isTTY === true && typeof input.setRawMode === 'function';
  if (raw) input.setRawMode!(true);
  let onData: (d: Buffer) => void = () => {};
  let onEnd: () => void = () => {};
  try {
    return await new Promise<Detached>((resolve) => {
      onData = (d: Buffer) => {
        if (d.includes(DETACH_KEY)) return resolve({ by: 'user' });
        con.write(d.toString('utf8').replace(/\r/g, '\n')).catch((e: Error) => resolve({ by: 'console', reason: e.message }));
      };
      onEnd = () => resolve({ by: 'user' });
      input.on('data', onData);
      input.on('end', onEnd);
      input.resume();
      // Nothing else waits on this console: an expect that never matches learns when it closes.
      con.expect(/(?!)/, 2 ** 31 - 1).catch((e: Error) => resolve({ by: 'console', reason: e.message }));
    });
  } finally {
    input.off('data', onData);
    input.off('end', onEnd);
    if (raw) input.setRawMode!(false);
    input.pause();
    echo();
  }
}
