// The images and artifacts one lab run needs on an image-built board: the current version (the
// disk every scenario starts from), the next version's .mender (and a copy signed with the lab's
// trusted key), a broken-init variant's .mender, and small artifacts the client must refuse before
// touching the env (a payload whose bytes do not match its checksum; another device type;
// unsigned, or signed with an untrusted key, where a signature is required). buildImage caches
// by inputs, so a second run only hashes.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { buildDeviceBundle, DEVICE_BUNDLE } from '../../client/build-device.js';
import { join } from 'node:path';
import { writeArtifact } from '../../artifact/writer.js';
import { buildImage, type BuiltImage } from '../../qemu/image/build.js';
import { LAB_CACHE_DIR } from '../../paths.js';
import type { ArtifactRole, LabVersions } from './board.js';
import type { ClientKind } from '../scenario/client.js';
import { labSigningKeys, type LabKeys } from './lab-keys.js';
import { resignArtifact } from '../../artifact/sign.js';
import { withLock } from './build-lock.js';

export const DEFAULT_VERSIONS: LabVersions = { current: 'lab-1', next: 'lab-2', broken: 'lab-2-broken' };
export { DEVICE_BUNDLE };

export interface LabImages {
  current: BuiltImage;
  artifacts: Record<ArtifactRole, string>;
}

const MARK = Buffer.from('FLIPSIDE-LAB-PAYLOAD-');

/** 1 MiB of a recognisable pattern: easy to find again inside an uncompressed artifact. */
function patternPayload(): Buffer {
  const out = Buffer.alloc(1 << 20);
  for (let o = 0; o < out.length; o += MARK.length) MARK.copy(out, o);
  return out;
}

/** A small valid rootfs-image artifact (1 MiB of a pattern): for what must be refused before its payload matters. */
export async function writeSmallArtifact(out: string, deviceType: string, name: string): Promise<void> {
  await writeArtifact(
    { type: 'rootfs-image', name, deviceTypes: [deviceType], files: [{ name: 'rootfs.img', content: patternPayload() }], compression: 'none', softwareVersion: name },
    out,
  );
}

/** A valid small artifact with one payload byte flipped: headers pass, the checksum does not. */
export async function writeCorruptArtifact(out: string, deviceType: string, name: string): Promise<void> {
  const tmp = `${out}.tmp`;
  await writeSmallArtifact(tmp, deviceType, name);
  const bytes = readFileSync(tmp);
  rmSync(tmp, { force: true });
  const first = bytes.indexOf(MARK);
  if (first < 0) throw new Error('corrupt artifact: payload pattern not found (compressed?)');
  const at = first + (1 << 19);
  bytes[at] = bytes[at]! ^ 0xff;
  writeFileSync(out, bytes);
}

export async function writeWrongDeviceArtifact(out: string, name: string): Promise<void> {
  await writeSmallArtifact(out, 'flipside-no-such-board', name);
}

/** The health check a device runs before it commits; this one fails, so the update must roll back. */
export const FAILING_HEALTH_CHECK = { name: 'ArtifactCommit_Enter_00', content: Buffer.from('#!/bin/sh\necho "health check: the application did not come up" >&2\nexit 1\n') };

/** A rootfs update whose ArtifactCommit_Enter script exits 1. */
export async function writeUnhealthyArtifact(out: string, o: { rootfs: string | Buffer; deviceType: string; name: string }): Promise<void> {
  await writeArtifact(
    {
      type: 'rootfs-image',
      name: o.name,
      deviceTypes: [o.deviceType],
      files: [typeof o.rootfs === 'string' ? { path: o.rootfs, name: 'rootfs.img' } : { content: o.rootfs, name: 'rootfs.img' }],
      compression: typeof o.rootfs === 'string' ? 'gzip' : 'none',
      softwareVersion: o.name,
      scripts: [FAILING_HEALTH_CHECK],
    },
    out,
  );
}

/**
 * The artifacts of a signature scenario, written beside the others in `dir`: `signed` is `next`
 * signed with the trusted key (re-signed when `next` is newer than the copy); `unsigned` and
 * `wrong-key` are small artifacts for the board, the second signed with the untrusted key.
 */
export async function writeSignedArtifacts(
  dir: string,
  o: { next: string; deviceType: string; name: string },
  keys: LabKeys = labSigningKeys(),
): Promise<{ signed: string; unsigned: string; 'wrong-key': string }> {
  const signed = join(dir, `signed-${keys.fingerprint}.mender`);
  if (!existsSync(signed) || statSync(signed).mtimeMs < statSync(o.next).mtimeMs) {
    await resignArtifact(o.next, `${signed}.tmp`, keys.trusted);
    renameSync(`${signed}.tmp`, signed);
  }
  const unsigned = join(dir, `unsigned-${o.deviceType}.mender`);
  if (!existsSync(unsigned)) {
    await writeSmallArtifact(`${unsigned}.tmp`, o.deviceType, `${o.name}-unsigned`);
    renameSync(`${unsigned}.tmp`, unsigned);
  }
  const wrong = join(dir, `wrong-key-${keys.fingerprint}.mender`);
  if (!existsSync(wrong)) {
    await resignArtifact(unsigned, `${wrong}.tmp`, keys.untrusted);
    renameSync(`${wrong}.tmp`, wrong);
  }
  return { signed, unsigned, 'wrong-key': wrong };
}

type LabImageOptions = { clientBundle?: string; log?: (line: string) => void; serverUrl?: string; client?: ClientKind };

/**
 * The lab images and artifacts of a board, built by one process at a time (per board and client):
 * a process that finds another building them waits and then finds them cached. CI runs the QEMU
 * scenario suite and a crash-image campaign side by side on the same cache; unlocked, both would
 * build the same images (minutes of CPU each) and write the same artifact files at once.
 */
export async function buildLabImages(board: string, versions: LabVersions, opts: LabImageOptions = {}): Promise<LabImages> {
  const lock = join(LAB_CACHE_DIR, 'locks', `images-${board.replace(/[^A-Za-z0-9._-]/g, '_')}${opts.client === 'mender' ? '-mender' : ''}.lock`);
  return withLock(lock, () => buildLabImagesUnlocked(board, versions, opts), { onWait: (pid) => opts.log?.(`image ${board}: waiting for process ${pid}, which is building the lab images`) });
}

async function buildLabImagesUnlocked(board: string, versions: LabVersions, opts: LabImageOptions): Promise<LabImages> {
  const mender = opts.client === 'mender';
  // The bundle is rebuilt from the source every run (about a second; esbuild's output is the same
  // for the same source, so the content-keyed image cache still hits): a stale client is never tested.
  const bundle = mender ? null : (opts.clientBundle ?? (await buildDeviceBundle()));
  if (bundle && !existsSync(bundle)) throw new Error(`the device client bundle ${bundle} is missing`);
  const log = opts.log ?? (() => undefined);
  const build = async (version: string, variant: 'good' | 'broken-init') => {
    const t0 = Date.now();
    const r = await buildImage({ board, version, variant, ...(bundle ? { clientBundle: bundle } : { client: 'mender' as const }), ...(opts.serverUrl ? { serverUrl: opts.serverUrl } : {}) });
    log(`image ${board} ${version} (${variant}${mender ? ', mender-client' : ''}): ${r.cached ? 'cached' : 'built'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  };
  const current = await build(versions.current, 'good');
  const next = await build(versions.next, 'good');
  const broken = await build(versions.broken, 'broken-init');
  // Apart per client: the unhealthy and signed copies follow the next version's rootfs.
  const dir = join(LAB_CACHE_DIR, 'artifacts', mender ? `${board}-mender` : board);
  mkdirSync(dir, { recursive: true });
  const corrupt = join(dir, 'corrupt.mender');
  const wrong = join(dir, 'wrong-device.mender');
  if (!existsSync(corrupt)) await writeCorruptArtifact(corrupt, current.board.deviceType, `${versions.next}-corrupt`);
  if (!existsSync(wrong)) await writeWrongDeviceArtifact(wrong, `${versions.next}-other-device`);
  const unhealthy = join(dir, 'unhealthy.mender');
  if (!existsSync(unhealthy) || statSync(unhealthy).mtimeMs < statSync(next.rootfs).mtimeMs) {
    await writeUnhealthyArtifact(`${unhealthy}.tmp`, { rootfs: next.rootfs, deviceType: current.board.deviceType, name: `${versions.next}-unhealthy` });
    renameSync(`${unhealthy}.tmp`, unhealthy);
  }
  const art = (b: BuiltImage) => {
    if (!b.artifactInputs.artifact) throw new Error(`image ${b.artifactInputs.artifactName} was built without an artifact`);
    return b.artifactInputs.artifact;
  };
  const signedRoles = await writeSignedArtifacts(dir, { next: art(next), deviceType: current.board.deviceType, name: versions.next });
  return { current, artifacts: { next: art(next), broken: art(broken), corrupt, 'wrong-device': wrong, unhealthy, ...signedRoles } };
}
