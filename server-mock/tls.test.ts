// TLS over real sockets: the generated CA is stable across restarts, the server certificate
// names localhost and 127.0.0.1, and a device that trusts only that CA completes an auth round.
import test from 'ava';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { ensureTls } from './tls.js';
import { buildServer } from './app.js';
import { SimDevice, httpTransport } from './testing/device-sim.js';

test('generated CA and server cert; a device trusting the CA talks HTTPS', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flipside-tls-'));
  try {
    const tls = await ensureTls(dataDir, ['ota.example.com']);
    const ca = new X509Certificate(readFileSync(tls.caPath));
    t.true(ca.ca);
    const leaf = new X509Certificate(tls.cert);
    t.true(leaf.checkIssued(ca));
    t.regex(leaf.subjectAltName ?? '', /DNS:localhost/);
    t.regex(leaf.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    t.regex(leaf.subjectAltName ?? '', /DNS:ota\.example\.com/);
    const again = await ensureTls(dataDir, ['ota.example.com']);
    t.is(readFileSync(again.caPath, 'utf8'), readFileSync(tls.caPath, 'utf8'), 'the CA is kept');
    t.is(again.cert, tls.cert, 'the server cert is kept while it still fits');

    const app = await buildServer({ dataDir, https: { key: tls.key, cert: tls.cert } });
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.address() as { port: number }).port;
      const d = new SimDevice(httpTransport(`https://localhost:${port}`, { ca: readFileSync(tls.caPath) }), { keyKind: 'ecdsa' });
      t.is((await d.authenticate()).status, 401);
      const untrusting = new SimDevice(httpTransport(`https://localhost:${port}`), { keyKind: 'ecdsa' });
      await t.throwsAsync(untrusting.authenticate(), { message: /self.signed|unable to verify|certificate/i });
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
