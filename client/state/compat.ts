// Device-side artifact checks before any payload byte is written, and what the device provides
// after a commit: Mender's MatchesArtifactDepends and provides merge as artifact/depends.ts
// implements them, turned into the client's typed errors, plus the client's own limits (one
// payload, with a type).
import { checkDepends, providesAfterInstall } from '../../artifact/depends.js';
import { ArtifactError } from '../../artifact/errors.js';
import type { ArtifactHeaders } from '../../artifact/types.js';
import { ClientError } from '../errors.js';
import type { DeviceProvides } from './types.js';

/** Payload types this client can install: the built-in one, anything else goes to update modules. */
export const ROOTFS_TYPE = 'rootfs-image';

export function checkCompatible(headers: ArtifactHeaders, deviceType: string, provides: DeviceProvides): void {
  // The device type gets its own code (the most common mistake); the rest is artifact/depends.ts.
  if (!headers.depends.device_type.includes(deviceType)) {
    throw new ClientError(
      'DEVICE_TYPE',
      `artifact ${headers.name} is for device types [${headers.depends.device_type.join(', ')}], this device is ${deviceType}`,
    );
  }
  try {
    checkDepends(headers, { ...provides, device_type: deviceType });
  } catch (e) {
    if (e instanceof ArtifactError) throw new ClientError('DEPENDS', `artifact ${headers.name} cannot be installed here: ${e.message}`, { cause: e });
    throw e;
  }
  if (headers.payloads.length !== 1) {
    throw new ClientError('PAYLOAD_TYPE', `artifact ${headers.name} has ${headers.payloads.length} payloads; exactly one is supported`);
  }
  if (!headers.payloads[0]!.type) {
    throw new ClientError('PAYLOAD_TYPE', `artifact ${headers.name} has an empty payload type (nothing to install)`);
  }
}

/** What the device provides once `headers` is committed (device_type is kept in its own file, not here). */
export function providesAfter(current: DeviceProvides, headers: ArtifactHeaders): DeviceProvides {
  return providesAfterInstall(current, headers);
}
