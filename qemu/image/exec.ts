// One way to run host tools during an image build: arguments as an array (no shell quoting), and
// a failure message that names the command and shows its stderr.
import { execa } from 'execa';

export interface RunOptions {
  cwd?: string;
  input?: string | Buffer;
  env?: Record<string, string>;
}

export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await execa(cmd, args, {
    cwd: opts.cwd,
    input: opts.input,
    env: opts.env,
    reject: false,
    encoding: 'utf8',
    stripFinalNewline: false,
  });
  if (r.exitCode !== 0 || r.failed) {
    const why = r.exitCode === undefined ? (r.shortMessage ?? 'failed to start') : `exit ${r.exitCode}`;
    throw new Error(`${cmd} ${args.join(' ')}: ${why}\n${String(r.stderr ?? '').trim()}`);
  }
  return String(r.stdout ?? '');
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
