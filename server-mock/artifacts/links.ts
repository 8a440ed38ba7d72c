// Expiring download links: the URL carries its expiry and an HMAC over (artifact id, expiry), so
// a device downloads without an Authorization header, and a link cannot be bent to another blob.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const DOWNLOAD_PATH = '/api/devices/v1/deployments/download/artifacts';

function mac(key: Buffer, id: string, expire: string): Buffer {
  return createHmac('sha256', key).update(`${id}\n${expire}`).digest();
}

export function signedDownloadLink(key: Buffer, baseUrl: string, artifactId: string, ttlSeconds: number): { uri: string; expire: string } {
  const expire = new Date(Date.now() + ttlSeconds * 1000).toISOString();
  const sig = mac(key, artifactId, expire).toString('base64url');
  const q = new URLSearchParams({ 'x-men-expire': expire, 'x-men-signature': sig });
  return { uri: `${baseUrl}${DOWNLOAD_PATH}/${encodeURIComponent(artifactId)}?${q}`, expire };
}

export type LinkCheck = 'ok' | 'expired' | 'bad-signature';

export function checkDownloadLink(key: Buffer, artifactId: string, expire: string, signature: string): LinkCheck {
  const want = mac(key, artifactId, expire);
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
