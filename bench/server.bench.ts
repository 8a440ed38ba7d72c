// Server benchmarks, loopback only, numbers relative to a baseline measured in the same run:
//  1. deployments/next polls per second (nothing pending, the common case, and with a pending
//     deployment) against a bare Fastify route that parses the same JSON body and answers 204;
//  2. latency percentiles when 1,000 simulated devices poll at once, each on its own connection.
import Fastify from 'fastify';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer } from '../server-mock/app.js';
import { generateDeviceKey, SimDevice, injectTransport } from '../server-mock/testing/device-sim.js';
import { createUser } from '../server-mock/management/useradm.js';
import { makeArtifact, multipartBody } from '../server-mock/testing/fixtures.js';

const DEVICES = 1000;
const THROUGHPUT_SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = 32;
const ROUNDS = 3;

interface Target {
  port: number;
  path: string;
}

function request(agent: http.Agent, t: Target, token: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: t.port, path: t.path, method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Requests per second with CONCURRENCY keep-alive connections for THROUGHPUT_SECONDS. */
async function throughput(t: Target, tokens: string[], body: Buffer, expect: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const end = Date.now() + THROUGHPUT_SECONDS * 1000;
  let done = 0;
  let i = 0;
  const start = Date.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        const status = await request(agent, t, tokens[i++ % tokens.length]!, body);
        if (status !== expect) throw new Error(`unexpected status ${status} (want ${expect})`);
        done++;
      }
    }),
  );
  agent.destroy();
  return done / ((Date.now() - start) / 1000);
}

/** Every device polls at once on its own connection; latency of each request in ms. */
async function burst(t: Target, tokens: string[], body: Buffer): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: tokens.length });
  const latencies: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await Promise.all(
      tokens.map(async (tok) => {
        const t0 = performance.now();
        const status = await request(agent, t, tok, body);
        if (status !== 204 && status !== 200) throw new Error(`unexpected status ${status}`);
        latencies.push(performance.now() - t0);
      }),
    );
  }
  agent.destroy();
  return latencies.sort((a, b) => a - b);
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flipside-bench-'));
  const bare = Fastify();
  bare.post('/next', async (_req, reply) => reply.code(204).send());
  const app = await buildServer({ dataDir });
  try {
    await bare.listen({ port: 0, host: '127.0.0.1' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const barePort = (bare.server.address() as { port: number }).port;
    const port = (app.server.address() as { port: number }).port;

    // Devices: preauthorized in the store, then authenticated through the real route.
    const ctx = app.flipside;
    const devices: SimDevice[] = [];
    const transport = injectTransport(app);
    for (let i = 0; i < DEVICES; i++) {
      const d = new SimDevice(transport, { key: generateDeviceKey('ed25519'), identity: { serial: `bench-${i}` } });
      await ctx.store.preauthorize(JSON.stringify({ serial: `bench-${i}` }), d.publicKeyPem);
      devices.push(d);
    }
    for (let i = 0; i < devices.length; i += 100) await Promise.all(devices.slice(i, i + 100).map((d) => d.authenticate()));
    const tokens = devices.map((d) => d.token!);
    if (tokens.some((x) => !x)) throw new Error('some devices did not authenticate');
    const body = Buffer.from(JSON.stringify({ artifact_name: 'release-0', device_type: 'qemux86-64' }));
    const bareT = { port: barePort, path: '/next' };
    const nextT = { port, path: '/api/devices/v1/deployments/device/deployments/next' };

    // Warm up both (JIT, connection pools) before measuring.
    await throughput(bareT, tokens, body, 204);
    const bareRps = await throughput(bareT, tokens, body, 204);
    const idleRps = await throughput(nextT, tokens, body, 204);

    // Half the devices get a pending deployment: answers carry a signed link.
    await createUser(ctx, 'bench@example.com', 'bench-password');
    const art = await makeArtifact('release-1', ['qemux86-64']);
    const { body: mp, contentType } = multipartBody({}, { content: art });
    const login = await app.inject({ method: 'POST', url: '/api/management/v1/useradm/auth/login', headers: { authorization: `Basic ${Buffer.from('bench@example.com:bench-password').toString('base64')}` } });
    const auth = { authorization: `Bearer ${login.body}` };
    const up = await app.inject({ method: 'POST', url: '/api/management/v1/deployments/artifacts', headers: { ...auth, 'content-type': contentType }, payload: mp });
    if (up.statusCode !== 201) throw new Error(`upload failed ${up.body}`);
    const half = devices.slice(0, DEVICES / 2);
    const dep = await app.inject({ method: 'POST', url: '/api/management/v1/deployments/deployments', headers: auth, payload: { name: 'bench', artifact_name: 'release-1', devices: half.map((d) => d.deviceId) } });
    if (dep.statusCode !== 201) throw new Error(`deployment failed ${dep.body}`);
    const pendingRps = await throughput(nextT, half.map((d) => d.token!), body, 200);

    const bareLat = await burst(bareT, tokens, body);
    const lat = await burst(nextT, tokens, body);

    const f = (n: number) => n.toFixed(0);
    console.log(`bare fastify POST (baseline)          ${f(bareRps)} req/s`);
    console.log(`deployments/next, nothing pending     ${f(idleRps)} req/s   ratio ${(idleRps / bareRps).toFixed(2)} of baseline`);
    console.log(`deployments/next, deployment pending  ${f(pendingRps)} req/s   ratio ${(pendingRps / bareRps).toFixed(2)} of baseline`);
    console.log(`${DEVICES} devices polling at once x${ROUNDS}:`);
    console.log(`  bare     p50 ${bareLat.length && pct(bareLat, 50).toFixed(1)} ms  p99 ${pct(bareLat, 99).toFixed(1)} ms`);
    console.log(`  server   p50 ${pct(lat, 50).toFixed(1)} ms  p99 ${pct(lat, 99).toFixed(1)} ms   p99 ratio ${(pct(lat, 99) / pct(bareLat, 99)).toFixed(2)} of baseline`);
  } finally {
    await app.close();
    await bare.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
