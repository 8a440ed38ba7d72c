// Records one standalone update on a QEMU board with every guest write and flush logged
// (blklogwrites): boot → install → reboot → commit → reboot, the new version running at the end.
// Keeps the disk as it was before the first power-on (the log's base) and the log, plus the log's
// size at each step, so crash images can be named by the step they fall in.
import { linkSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { devicePathOf, type DataFiles } from '../../board/board.js';
import type { QemuBoard } from '../../board/qemu-board.js';
import { CANARY_PATH, canaryContent } from '../../invariants/invariants.js';
import { clientCommands, clientDataFiles, type ClientKind } from '../../scenario/client.js';

export const STEPS = ['boot', 'install', 'reboot', 'commit', 'final-boot'] as const;
export type Step = (typeof STEPS)[number];

export interface Recording {
  dir: string;
  base: string;
  log: string;
  client: ClientKind;
  seed: number;
  /** Log size in bytes when each step began. */
  marks: { step: Step; logBytes: number }[];
  seconds: number;
}

export function recordingFiles(dir: string): { base: string; log: string; meta: string } {
  return { base: join(dir, 'base.img'), log: join(dir, 'write.log'), meta: join(dir, 'recording.json') };
}

/** The files a fresh device of the campaign starts with: the canary, the artifact, the client's tuning. */
export function campaignDataFiles(board: QemuBoard, client: ClientKind, seed: number): DataFiles {
  const next = board.artifacts.next;
  if (!next) throw new Error(`${board.name} built no 'next' artifact`);
  return {
    [CANARY_PATH]: { content: Buffer.from(canaryContent(seed)) },
    // Standalone: init must not start the daemon next to our commands.
    ...(client === 'flipside' ? { '/data/flipside/client.disabled': { content: Buffer.from('standalone campaign\n') } } : {}),
    ...clientDataFiles(client, { config: {}, managed: false }),
    [devicePathOf('next')]: { path: next },
  };
}

export async function recordUpdate(board: QemuBoard, o: { dir: string; client: ClientKind; seed: number; log: (l: string) => void }): Promise<Recording> {
  const t0 = Date.now();
  const files = recordingFiles(o.dir);
  mkdirSync(o.dir, { recursive: true });
  const runDir = join(o.dir, 'run');
  await board.reset({ runDir, dataFiles: campaignDataFiles(board, o.client, o.seed) });
  rmSync(files.base, { force: true });
  linkSync(join(runDir, 'start.img'), files.base); // the log's base: release() deletes only its own name
  const cmd = clientCommands(o.client);
  const marks: Recording['marks'] = [];
  const mark = (step: Step) => {
    marks.push({ step, logBytes: step === 'boot' ? 0 : statSync(files.log).size });
    o.log(`recording: ${step}`);
  };
  const sh = async (c: string, timeoutMs: number) => {
    const r = await board.caps.shell.run(c, { timeoutMs });
    if (r.code !== 0) throw new Error(`recording: \`${c}\` exited ${r.code}: ${r.stdout.trim().split('\n').slice(-3).join(' | ')}`);
    return r.stdout;
  };
  const reboot = async () => {
    await board.caps.console.write('sync; reboot -f\n');
    await board.strategy.followBoot('shell');
  };
  board.writeLog = files.log;
  try {
    mark('boot');
    await board.strategy.transition('shell');
    mark('install');
    await sh(cmd.install(devicePathOf('next')), 900_000);
    mark('reboot');
    await reboot();
    mark('commit');
    await sh(cmd.commit(), 600_000);
    mark('final-boot');
    await reboot();
    const info = await sh('cat /etc/flipside/artifact_info', 30_000);
    if (!info.includes(`artifact_name=${board.versions.next}`)) throw new Error(`recording: the update did not end on ${board.versions.next}: ${info.trim()}`);
    await sh('sync', 30_000);
  } finally {
    board.writeLog = null;
    await board.release();
  }
  const rec: Recording = { dir: o.dir, base: files.base, log: files.log, client: o.client, seed: o.seed, marks, seconds: (Date.now() - t0) / 1000 };
  writeFileSync(files.meta, `${JSON.stringify(rec, null, 2)}\n`);
  return rec;
}

/** The step a log entry (by its header's byte position) was written in. */
export function stepAt(rec: Pick<Recording, 'marks'>, logPosition: number): Step {
  let s: Step = 'boot';
  for (const m of rec.marks) if (logPosition >= m.logBytes) s = m.step;
  return s;
}
