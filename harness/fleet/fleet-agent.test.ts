// The simulator's agent skips Node's detailed peer certificate, not the checks: a server signed by
// another CA, or whose certificate does not name the address dialled, is still refused.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, get, type Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ensureTls } from '../../server-mock/tls.js';
import { FleetAgent } from './device.js';

async function serve(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-agent-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tls = await ensureTls(dir);
  const server = createServer({ key: tls.key, cert: tls.cert }, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  return { port: (server.address() as AddressInfo).port, ca: readFileSync(tls.caPath, 'utf8') };
}

function fetchWith(agent: Agent, url: string, ca: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent, ca, ...(servername ? { servername } : {}) }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('a server signed by the trusted CA for the address dialled is accepted', async (t) => {
  const { port, ca } = await serve(t);
  const agent = new FleetAgent({ maxCachedSessions: 0 });
  t.teardown(() => agent.destroy());
  t.is(await fetchWith(agent, `https://127.0.0.1:${port}/`, ca), 'ok');
});

test('a certificate that does not name the server dialled is refused', async (t) => {
  const { port, ca } = await serve(t);
  const agent = new FleetAgent({ maxCachedSessions: 0 });
  t.teardown(() => agent.destroy());
  const e = await t.throwsAsync(fetchWith(agent, `https://127.0.0.1:${port}/`, ca, 'not-this-server.example'));
  t.is((e as NodeJS.ErrnoException).code, 'ERR_TLS_CERT_ALTNAME_INVALID');
});

test('a server signed by another CA is refused', async (t) => {
  const { port } = await serve(t);
  const other = await serve(t);
  const agent = new FleetAgent({ maxCachedSessions: 0 });
  t.teardown(() => agent.destroy());
  const e = await t.throwsAsync(fetchWith(agent, `https://127.0.0.1:${port}/`, other.ca));
  t.regex((e as NodeJS.ErrnoException).code ?? '', /UNABLE_TO_VERIFY|SELF_SIGNED|CERT_SIGNATURE_FAILURE/);
});
