// Depends/provides on the device, with Mender's semantics (client context.cpp
// MatchesArtifactDepends / CommitArtifactData): an artifact installs only if the device's type is
// listed and every other depends key is provided by the device with one of the accepted values;
// after install the stored provides lose what clears_artifact_provides names, then gain the new ones.
import { ArtifactError } from './errors.js';
import type { ArtifactHeaders, ProvidesValue } from './types.js';

/** What a device has: artifact_name, artifact_group, device_type, rootfs-image.checksum, ... */
export type DeviceProvides = Record<string, string>;

function list(v: ProvidesValue): string[] {
  return Array.isArray(v) ? v : [v];
}

function show(l: string[]): string {
  return `[${l.join(', ')}]`;
}

/** Throws ArtifactError('REFUSED') naming the first depends key the device does not satisfy. */
export function checkDepends(headers: ArtifactHeaders, device: DeviceProvides): void {
  const dt = device.device_type;
  if (dt === undefined || !headers.depends.device_type.includes(dt)) {
    throw new ArtifactError('REFUSED', `device_type: artifact is for ${show(headers.depends.device_type)}, device is ${dt === undefined ? 'of unknown type' : JSON.stringify(dt)}`);
  }
  const check = (key: string, accepted: string[], where: string) => {
    const have = device[key];
    if (have === undefined) throw new ArtifactError('REFUSED', `${key}: ${where} depends on one of ${show(accepted)}, the device provides no ${key}`);
    if (!accepted.includes(have)) throw new ArtifactError('REFUSED', `${key}: ${where} depends on one of ${show(accepted)}, the device has ${JSON.stringify(have)}`);
  };
  if (headers.depends.artifact_name && headers.depends.artifact_name.length > 0) check('artifact_name', headers.depends.artifact_name, 'header-info');
  if (headers.depends.artifact_group && headers.depends.artifact_group.length > 0) check('artifact_group', headers.depends.artifact_group, 'header-info');
  for (const p of headers.payloads) {
    for (const [k, v] of Object.entries(p.typeInfo.artifact_depends ?? {})) check(k, list(v), `payload ${p.index}`);
  }
}

/** `*` matches any run of characters (dots included); everything else is literal; the whole key must match. */
export function matchesWildcard(pattern: string, key: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return re.test(key);
}

/**
 * The device's provides after this artifact is committed. Keys matched by any payload's
 * clears_artifact_provides are dropped unless the new artifact provides them; when no payload has
 * clears_artifact_provides at all (artifacts older than mender-artifact 3.5) the old provides are
 * replaced wholesale, as the Mender client does. device_type is never touched.
 */
export function providesAfterInstall(current: DeviceProvides, headers: ArtifactHeaders): DeviceProvides {
  const incoming: DeviceProvides = { artifact_name: headers.provides.artifact_name };
  if (headers.provides.artifact_group) incoming.artifact_group = headers.provides.artifact_group;
  for (const p of headers.payloads) Object.assign(incoming, p.typeInfo.artifact_provides ?? {});

  const clears = headers.payloads.flatMap((p) => p.typeInfo.clears_artifact_provides ?? []);
  const legacy = headers.payloads.every((p) => p.typeInfo.clears_artifact_provides === undefined);
  const out: DeviceProvides = {};
  for (const [k, v] of Object.entries(current)) {
    if (k === 'device_type') {
      out[k] = v;
      continue;
    }
    if (legacy && k !== 'artifact_name' && k !== 'artifact_group') continue;
    if (k in incoming) continue;
    if (clears.some((c) => matchesWildcard(c, k))) continue;
    out[k] = v;
  }
  return { ...out, ...incoming };
}
