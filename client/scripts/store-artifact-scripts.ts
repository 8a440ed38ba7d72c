// Stores the state scripts of an artifact in the artifact scripts dir, replacing the previous
// artifact's set as one atomic step: the scripts and a `version` file ("3", as Mender writes)
// are written and fsynced into a fresh sibling dir, and `dir` is a symlink switched to it with a
// rename. A reader (or a power cut) sees the old set or the new set, never a mix. The first
// store over a real directory moves it aside first (a brief window with no dir, which reads as
// "no scripts"); from then on every switch is a single rename.
import { lstat, mkdir, readdir, rename, rm, symlink, chmod } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ArtifactScript } from '../../artifact/types.js';
import { syncDir, writeFileSynced } from '../durable.js';
import { artifactScriptNameProblem } from './state-script-names.js';

export const SCRIPTS_VERSION = '3';

export class ScriptStoreError extends Error {
  constructor(
    readonly code: 'BAD_NAME' | 'DUPLICATE' | 'IO',
    message: string,
  ) {
    super(message);
    this.name = 'ScriptStoreError';
  }
}

export async function storeArtifactScripts(scripts: ArtifactScript[], dir: string): Promise<void> {
  const seen = new Set<string>();
  for (const s of scripts) {
    const problem = artifactScriptNameProblem(s.name);
    if (problem) throw new ScriptStoreError('BAD_NAME', `artifact script ${JSON.stringify(s.name)} ${problem}; nothing stored`);
    if (seen.has(s.name)) throw new ScriptStoreError('DUPLICATE', `artifact script ${s.name} appears twice; nothing stored`);
    seen.add(s.name);
  }
  const parent = dirname(dir);
  const base = basename(dir);
  const prefix = `.${base}-`;
  const stage = join(parent, `${prefix}${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(parent, { recursive: true });
    await mkdir(stage, { mode: 0o755 });
    for (const s of scripts) await writeFileSynced(join(stage, s.name), s.content, { mode: s.mode & 0o777, exclusive: true });
    await writeFileSynced(join(stage, 'version'), SCRIPTS_VERSION, { mode: 0o644, exclusive: true });
    await chmod(stage, 0o755);
    await syncDir(stage);

    const link = `${stage}.link`;
    await symlink(basename(stage), link);
    const current = await lstat(dir).catch(() => null);
    if (current && !current.isSymbolicLink()) await rename(dir, `${stage}.old`);
    await rename(link, dir);
    await syncDir(parent);
  } catch (err) {
    await rm(stage, { recursive: true, force: true }).catch(() => undefined);
    await rm(`${stage}.link`, { force: true }).catch(() => undefined);
    throw new ScriptStoreError('IO', `cannot store artifact scripts in ${dir}: ${(err as Error).message}`);
  }
  // Earlier sets (and leftovers of interrupted stores) are no longer referenced.
  for (const entry of await readdir(parent)) {
    if (entry.startsWith(prefix) && join(parent, entry) !== stage) {
      await rm(join(parent, entry), { recursive: true, force: true }).catch(() => undefined);
    }
  }
}
