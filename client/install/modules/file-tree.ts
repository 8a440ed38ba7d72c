// The Update Module File Tree, laid out as Mender 4 lays it out (update-modules-v3-file-api.md and
// the client's CleanAndPrepareFileTree): the module reads only this directory, so every byte here
// is part of the protocol. The tree is built in a sibling directory, fsynced and renamed into
// place, so a client killed half-way never leaves half a tree for the next run to trust.
import { mkdir, rm, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ArtifactHeaders } from '../../../artifact/types.js';
import type { InstallContext } from '../types.js';
import { syncDir, writeFileSynced } from '../../durable.js';
import { ModuleError } from './errors.js';

/** `<workDir>/payloads/0000/tree`, Mender's `modules/v3/payloads/0000/tree` under our work dir. */
export function fileTreePath(workDir: string, payloadIndex = 0): string {
  return join(workDir, 'payloads', String(payloadIndex).padStart(4, '0'), 'tree');
}

/**
 * Mender writes the parsed JSON back with nlohmann::json, whose objects are std::maps: keys come
 * out sorted and compact. Doing the same keeps modules that diff or hash these files working.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** header-info as the artifact carried it, rebuilt from the parsed headers (v3 field names). */
export function headerInfoJson(headers: ArtifactHeaders): string {
  return canonicalJson({
    payloads: headers.payloads.map((p) => ({ type: p.type })),
    artifact_provides: headers.provides,
    artifact_depends: headers.depends,
  });
}

function payloadAt(headers: ArtifactHeaders, payloadIndex: number) {
  const payload = headers.payloads.find((p) => p.index === payloadIndex) ?? headers.payloads[payloadIndex];
  if (!payload) {
    throw new ModuleError('IO', 'Download', `artifact ${headers.name} has no payload ${payloadIndex}`);
  }
  return payload;
}

/** Every file of the tree except tmp/, files/ and streams/, keyed by path relative to the tree. */
export function fileTreeContents(
  ctx: Pick<InstallContext, 'headers' | 'current'>,
  payloadIndex = 0,
): Map<string, string> {
  const { headers, current } = ctx;
  const payload = payloadAt(headers, payloadIndex);
  // current_* end with a newline, header/* values do not: that is what Mender 4 writes.
  return new Map([
    ['version', '3\n'],
    ['current_artifact_name', `${current.artifactName}\n`],
    ['current_artifact_group', current.artifactGroup ? `${current.artifactGroup}\n` : ''],
    ['current_device_type', `${current.deviceType}\n`],
    ['header/artifact_group', headers.provides.artifact_group ?? ''],
    ['header/artifact_name', headers.provides.artifact_name ?? headers.name],
    ['header/payload_type', payload.type ?? ''],
    ['header/header-info', headerInfoJson(headers)],
    ['header/type-info', canonicalJson(payload.typeInfo)],
    // Absent meta-data is written as an empty object, so `jq` in a module never sees an empty file.
    ['header/meta-data', canonicalJson(payload.metaData ?? {})],
  ]);
}

/**
 * Replaces whatever is at `treeDir` with a fresh tree for this payload (Mender cleans the tree
 * at the start of every download: a download is never resumed across restarts).
 */
export async function prepareFileTree(
  treeDir: string,
  ctx: Pick<InstallContext, 'headers' | 'current'>,
  payloadIndex = 0,
): Promise<void> {
  const contents = fileTreeContents(ctx, payloadIndex);
  const parent = dirname(treeDir);
  const staging = `${treeDir}.new`;
  try {
    await mkdir(parent, { recursive: true });
    await rm(staging, { recursive: true, force: true });
    await mkdir(join(staging, 'header'), { recursive: true });
    await mkdir(join(staging, 'tmp'));
    for (const [rel, data] of contents) await writeFileSynced(join(staging, rel), data);
    await syncDir(join(staging, 'header'));
    await syncDir(join(staging, 'tmp'));
    await syncDir(staging);
    await rm(treeDir, { recursive: true, force: true });
    await rename(staging, treeDir);
    await syncDir(parent);
  } catch (e) {
    if (e instanceof ModuleError) throw e;
    throw new ModuleError('IO', 'Download', `cannot prepare the module file tree at ${treeDir}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

export async function fileTreeExists(treeDir: string): Promise<boolean> {
  try {
    return (await stat(treeDir)).isDirectory();
  } catch {
    return false;
  }
}

/** Removes the tree after Cleanup, as Mender does, and makes the removal durable. */
export async function removeFileTree(treeDir: string): Promise<void> {
  await rm(treeDir, { recursive: true, force: true });
  await rm(`${treeDir}.new`, { recursive: true, force: true });
  try {
    await syncDir(dirname(treeDir));
  } catch {
    // The parent may be gone too; nothing left to make durable.
  }
}
