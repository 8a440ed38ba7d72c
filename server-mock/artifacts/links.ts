// Expiring download links: the URL carries its expiry and an HMAC over (artifact id, expiry), so
// a device downloads without an Authorization header, and a link cannot be bent to another blob.
// A link handed to a device for a deployment also names the deployment and the device
// (deployment_id, device_id, under the same HMAC): the server then knows who is downloading and
// records the progress (deployments/download-progress.ts) with no help from the client, so it
// works for the Mender client too. Removing or changing either parameter breaks the signature.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const DOWNLOAD_PATH = '/api/devices/v1/deployments/download/artifacts';

function mac(key: Buffer, id: string, expire: string): Buffer {
  return createHmac('sha256', key).update(`${id}\n${expire}`).digest();
}

/** Who a device's download link was made for. */
export interface LinkHolder {
  deploymentId: string;
  deviceId: string;
}

/** Ids the server makes (UUIDs); never a newline, so the MAC's fields cannot run into each other. */
const HOLDER_ID = /^[A-Za-z0-9-]{1,64}$/;

// The MAC's subject: the artifact id alone for a management link; with the holder's two ids for a
// device's (four newline-separated fields with the expiry: never the same text as a plain link's
// two or an upload link's three).
function downloadSubject(artifactId: string, holder?: LinkHolder): string {
  return holder ? `${artifactId}\n${holder.deploymentId}\n${holder.deviceId}` : artifactId;
}

export function signedDownloadLink(key: Buffer, baseUrl: string, artifactId: string, ttlSeconds: number, holder?: LinkHolder): { uri: string; expire: string } {
  if (holder && !(HOLDER_ID.test(holder.deploymentId) && HOLDER_ID.test(holder.deviceId))) throw new Error(`bad link holder ${JSON.stringify(holder)}`);
  const expire = new Date(Date.now() + ttlSeconds * 1000).toISOString();
  const sig = mac(key, downloadSubject(artifactId, holder), expire).toString('base64url');
  const q = new URLSearchParams({ 'x-men-expire': expire, 'x-men-signature': sig });
  if (holder) {
    q.set('deployment_id', holder.deploymentId);
    q.set('device_id', holder.deviceId);
  }
  return { uri: `${baseUrl}${DOWNLOAD_PATH}/${encodeURIComponent(artifactId)}?${q}`, expire };
}

export type LinkCheck = 'ok' | 'expired' | 'bad-signature';

/** Checks a download link; `holder` as the link's query carries it (both ids or neither). */
export function checkArtifactLink(
  key: Buffer,
  artifactId: string,
  q: { expire: string; signature: string; deploymentId?: string; deviceId?: string },
): { check: LinkCheck; holder?: LinkHolder } {
  if ((q.deploymentId === undefined) !== (q.deviceId === undefined)) return { check: 'bad-signature' };
  const holder = q.deploymentId !== undefined && q.deviceId !== undefined ? { deploymentId: q.deploymentId, deviceId: q.deviceId } : undefined;
  if (holder && !(HOLDER_ID.test(holder.deploymentId) && HOLDER_ID.test(holder.deviceId))) return { check: 'bad-signature' };
  return { check: checkDownloadLink(key, downloadSubject(artifactId, holder), q.expire, q.signature), holder };
}

function checkDownloadLink(key: Buffer, subject: string, expire: string, signature: string): LinkCheck {
  const want = mac(key, subject, expire);
  const got = Buffer.from(signature, 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) return 'bad-signature';
  const t = Date.parse(expire);
  if (Number.isNaN(t) || t <= Date.now()) return 'expired';
  return 'ok';
}

/**
 * A configuration deployment's link (Mender's download/configuration/{deployment}/{device type}/
 * {device}): the MAC covers all three, so a link serves one device's artifact and nothing else.
 */
export const CONFIGURATION_DOWNLOAD_PATH = '/api/devices/v1/deployments/download/configuration';
const configurationSubject = (deploymentId: string, deviceType: string, deviceId: string) => `configuration\n${deploymentId}\n${deviceType}\n${deviceId}`;

export function signedConfigurationLink(key: Buffer, baseUrl: string, deploymentId: string, deviceType: string, deviceId: string, ttlSeconds: number): { uri: string; expire: string } {
  const expire = new Date(Date.now() + ttlSeconds * 1000).toISOString();
  const sig = mac(key, configurationSubject(deploymentId, deviceType, deviceId), expire).toString('base64url');
  const path = [deploymentId, deviceType, deviceId].map(encodeURIComponent).join('/');
  return { uri: `${baseUrl}${CONFIGURATION_DOWNLOAD_PATH}/${path}?${new URLSearchParams({ 'x-men-expire': expire, 'x-men-signature': sig })}`, expire };
}

export function checkConfigurationLink(key: Buffer, deploymentId: string, deviceType: string, deviceId: string, expire: string, signature: string): LinkCheck {
  return checkDownloadLink(key, configurationSubject(deploymentId, deviceType, deviceId), expire, signature);
}

/** A direct-upload link: like a download link, but its MAC covers `upload` too, so neither kind passes for the other. */
export function signedUploadLink(key: Buffer, url: string, uploadId: string, ttlSeconds: number): { uri: string; expire: string } {
  const expire = new Date(Date.now() + ttlSeconds * 1000).toISOString();
  const sig = mac(key, `upload\n${uploadId}`, expire).toString('base64url');
  return { uri: `${url}?${new URLSearchParams({ 'x-men-expire': expire, 'x-men-signature': sig })}`, expire };
}

export function checkUploadLink(key: Buffer, uploadId: string, expire: string, signature: string): LinkCheck {
  return checkDownloadLink(key, `upload\n${uploadId}`, expire, signature);
}
