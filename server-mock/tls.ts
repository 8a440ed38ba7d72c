// TLS on by default: a CA and a server certificate generated on first start and kept in
// <dataDir>/tls, so devices trust one stable CA file (its path is printed at startup).
// @peculiar/x509 over node's WebCrypto: pure JS, no openssl binary needed at run time.
import * as x509 from '@peculiar/x509';
import { webcrypto, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { isIP } from 'node:net';

x509.cryptoProvider.set(webcrypto as never);

type Key = webcrypto.CryptoKey;
type KeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface TlsMaterial {
  caPath: string;
  key: string;
  cert: string;
}

async function keyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
}

async function pemKey(key: Key): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }) as string;
}

async function importKey(pem: string): Promise<Key> {
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
}

function write(path: string, content: string): void {
  writeFileSync(`${path}.tmp`, content, { mode: 0o600, flush: true });
  renameSync(`${path}.tmp`, path);
}

/** Loads the CA and server certificate, creating what is missing; names go in the SAN. */
export async function ensureTls(dataDir: string, names: string[] = []): Promise<TlsMaterial> {
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caPath = join(dir, 'ca.crt');
  const caKeyPath = join(dir, 'ca.key');
  const certPath = join(dir, 'server.crt');
  const keyPath = join(dir, 'server.key');
  const now = new Date(Date.now() - 60_000);
  if (!existsSync(caPath) || !existsSync(caKeyPath)) {
    const keys = await keyPair();
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=Flipside server CA',
      keys: keys as never,
      signingAlgorithm: ALG,
      notBefore: now,
      notAfter: new Date(now.getTime() + 10 * 365 * 86400_000),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
      ],
    });
    write(caKeyPath, await pemKey(keys.privateKey));
    write(caPath, ca.toString('pem') + '\n');
  }
  const wanted = [...new Set(['localhost', '127.0.0.1', '::1', hostname(), ...names].filter(Boolean))];
  const current = existsSync(certPath) ? new x509.X509Certificate(readFileSync(certPath, 'utf8')) : undefined;
  const san = current?.getExtension(x509.SubjectAlternativeNameExtension);
  const have = new Set(san?.names.items.map((n) => n.value) ?? []);
  if (!current || !existsSync(keyPath) || !wanted.every((n) => have.has(n)) || current.notAfter < new Date()) {
    const ca = new x509.X509Certificate(readFileSync(caPath, 'utf8'));
    const caKey = await importKey(readFileSync(caKeyPath, 'utf8'));
    const keys = await keyPair();
    const cert = await x509.X509CertificateGenerator.create({
      subject: `CN=${wanted.find((n) => !isIP(n)) ?? 'localhost'}`,
      issuer: ca.subject,
      publicKey: keys.publicKey as never,
      signingKey: caKey as never,
      signingAlgorithm: ALG,
      notBefore: now,
      notAfter: new Date(now.getTime() + 825 * 86400_000),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(wanted.map((n) => ({ type: isIP(n) ? ('ip' as const) : ('dns' as const), value: n }))),
        await x509.AuthorityKeyIdentifierExtension.create(ca),
      ],
    });
    write(keyPath, await pemKey(keys.privateKey));
    write(certPath, cert.toString('pem') + '\n');
  }
  return { caPath, key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8') + readFileSync(caPath, 'utf8') };
}
