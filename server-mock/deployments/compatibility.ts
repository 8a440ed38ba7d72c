// Whether an artifact may go to a device, from what the device provides (Mender's rules): the
// device type must be listed, and every depends the device can be checked against must hold.
import type { ArtifactRow } from '../store/store.js';

export function artifactFits(artifact: ArtifactRow, provides: Record<string, string>): boolean {
  const deviceType = provides.device_type;
  if (!deviceType || !artifact.device_types.includes(deviceType)) return false;
  for (const [key, want] of Object.entries(artifact.meta.artifact_depends)) {
    if (key === 'device_type') continue;
    const have = provides[key];
    // A device that does not report this key (the GET form of "next" sends only two) is not
    // refused on it; the client checks depends itself before installing.
    if (have === undefined) continue;
    const options = Array.isArray(want) ? want.map(String) : [String(want)];
    if (options.length > 0 && !options.includes(have)) return false;
  }
  return true;
}
