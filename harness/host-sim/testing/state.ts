// A snapshot of everything an update may change on the host-sim board, to assert "nothing changed"
// or an exact end state: both partitions (hashed), the env, provides, the stored deployment.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostSimBoard } from '../board.js';

export interface BoardSnapshot {
  partA: string;
  partB: string;
  env: Record<string, string>;
  provides: Record<string, string>;
  deployment: string | null;
}

async function sha(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Everything but the env (which a test may have made unreadable on purpose). */
export async function snapshotFiles(b: HostSimBoard): Promise<Omit<BoardSnapshot, 'env'>> {
  let deployment: string | null = null;
  try {
    deployment = (JSON.parse(await readFile(join(b.dataDir, 'state.json'), 'utf8')) as { state: string }).state;
  } catch {
    deployment = null;
  }
  return { partA: await sha(b.partA), partB: await sha(b.partB), provides: await b.provides(), deployment };
}

export async function snapshot(b: HostSimBoard): Promise<BoardSnapshot> {
  return { ...(await snapshotFiles(b)), env: await b.readEnv() };
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
