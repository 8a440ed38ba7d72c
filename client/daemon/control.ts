// `flipside check-update` / `flipside send-inventory`: poke the running daemon the way Mender's
// client is poked: SIGUSR1 (update check now) and SIGUSR2 (inventory now), to the pid in the
// daemon's pid file. A missing or stale pid file is a clear error, never a signal to a stranger.
import { readFile } from 'node:fs/promises';
import { ClientError, errorMessage } from '../errors.js';

export type DaemonRequest = 'check-update' | 'send-inventory';

export const SIGNAL_OF: Record<DaemonRequest, NodeJS.Signals> = {
  'check-update': 'SIGUSR1',
  'send-inventory': 'SIGUSR2',
};

export async function readPid(pidFile: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(pidFile, 'utf8');
  } catch (e) {
    throw new ClientError('CONFIG', `the daemon is not running (cannot read ${pidFile}: ${errorMessage(e)})`, { cause: e });
  }
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 1) throw new ClientError('CONFIG', `${pidFile} does not hold a process id`);
  return pid;
}

export async function signalDaemon(pidFile: string, what: DaemonRequest, kill: (pid: number, sig: NodeJS.Signals) => void = process.kill): Promise<number> {
  const pid = await readPid(pidFile);
  try {
    kill(pid, SIGNAL_OF[what]);
  } catch (e) {
    throw new ClientError('CONFIG', `the daemon (pid ${pid} from ${pidFile}) is not running: ${errorMessage(e)}`, { cause: e });
  }
  return pid;
}
