// Server secrets kept in the data dir so tokens and download links stay valid across restarts:
// an Ed25519 key that signs JWTs and an HMAC key that signs artifact download links.
import { existsSync, readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';

export interface ServerSecrets {
  jwtPrivateKey: KeyObject;
  jwtPublicKey: KeyObject;
  linkKey: Buffer;
}

export function loadOrCreateSecrets(dataDir: string): ServerSecrets {
  const dir = join(dataDir, 'keys');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const jwtPath = join(dir, 'jwt-ed25519.pem');
  if (!existsSync(jwtPath)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeAtomic(jwtPath, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  }
  const linkPath = join(dir, 'link-hmac.key');
  if (!existsSync(linkPath)) writeAtomic(linkPath, randomBytes(32).toString('hex'));
  const jwtPrivateKey = createPrivateKey(readFileSync(jwtPath));
  return {
    jwtPrivateKey,
    jwtPublicKey: createPublicKey(jwtPrivateKey),
    linkKey: Buffer.from(readFileSync(linkPath, 'utf8').trim(), 'hex'),
  };
}

function writeAtomic(path: string, content: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600, flush: true });
  renameSync(tmp, path);
}
