// Login abuse against everything else, loopback only. Baselines measured in the same run:
//  - one unrelated management request (GET users/me) on an idle server, and the p99 of 200
//    devices polling deployments/next at once;
//  - the same while 100 wrong logins arrive in parallel, twice: from one address (the throttle
//    answers 80 of them 429 at once) and with the throttle opened wide (all 100 run scrypt, which
//    shows that scrypt runs off the request thread).
//  - and, as the floor, 100 requests that cost nothing (a 401 on a bad token) on new connections:
//    any 100 requests add that much to 200 polls on a 2-core machine.
// Targets (issue #18): the unrelated request under 250 ms; the poll p99 under the login flood
// the same as under the cheap flood (ratio about 1).
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServer } from '../server-mock/app.js';
import { generateDeviceKey, SimDevice, injectTransport } from '../server-mock/testing/device-sim.js';
import { createUser } from '../server-mock/management/useradm.js';

const DEVICES = 200;
const ROUNDS = 5;
const LOGINS = 100;

function request(agent: http.Agent, port: number, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent, headers: body ? { ...headers, 'content-length': String(body.length) } : headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function scenario(wide: boolean): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flipside-login-bench-'));
  const app = await buildServer({ dataDir, loginThrottle: wide ? { perAccount: 10_000, perSource: 10_000 } : {} });
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const ctx = app.flipside;
    await createUser(ctx, 'bench@example.com', 'bench-password');
    const agent = new http.Agent({ keepAlive: true, maxSockets: DEVICES + LOGINS + 10 });
    const basic = (p: string) => ({ authorization: `Basic ${Buffer.from(`bench@example.com:${p}`).toString('base64')}` });
    const loginAgent = new http.Agent({ keepAlive: false });
    const tokenRes = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/api/management/v1/useradm/auth/login', method: 'POST', headers: basic('bench-password') }, (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.end();
    });
    const me = { authorization: `Bearer ${tokenRes}` };
    const transport = injectTransport(app);
    const devices: SimDevice[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const d = new SimDevice(transport, { key: generateDeviceKey('ed25519'), identity: { serial: `login-bench-${i}` } });
      await ctx.store.preauthorize(JSON.stringify({ serial: `login-bench-${i}` }), d.publicKeyPem);
      devices.push(d);
    }
    await Promise.all(devices.map((d) => d.authenticate()));
    const body = Buffer.from(JSON.stringify({ artifact_name: 'release-0', device_type: 'qemux86-64' }));
    /** One round: every device polls at once; latency of each poll in ms. */
    const poll = async (): Promise<number[]> =>
      Promise.all(
        devices.map(async (d) => {
          const t0 = performance.now();
          const st = await request(agent, port, 'POST', '/api/devices/v1/deployments/device/deployments/next', { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' }, body);
          if (st !== 204) throw new Error(`poll answered ${st}`);
          return performance.now() - t0;
        }),
      );
    const unrelated = async (): Promise<number> => {
      const t0 = performance.now();
      const st = await request(agent, port, 'GET', '/api/management/v1/useradm/users/me', me);
      if (st !== 200) throw new Error(`users/me answered ${st}`);
      return performance.now() - t0;
    };
    let n = 0;
    const flood = () =>
      Promise.all(
        Array.from({ length: LOGINS }, () => request(loginAgent, port, 'POST', '/api/management/v1/useradm/auth/login', { ...basic(`wrong-${n++}`) })),
      );
    // The same number of requests on new connections that cost the server nothing (a 401 on a
    // bad token): what any 100 requests add, the floor for the login flood.
    const cheap = () => Promise.all(Array.from({ length: LOGINS }, () => request(loginAgent, port, 'GET', '/api/management/v1/useradm/users/me', { authorization: 'Bearer x.y.z' })));

    await poll(); // warm-up
    // Idle and attacked rounds alternate, so the machine's other load colours both alike.
    const idleMe: number[] = [];
    const idlePoll: number[] = [];
    const attackMe: number[] = [];
    const attackPoll: number[] = [];
    const cheapPoll: number[] = [];
    const statuses: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      idleMe.push(await unrelated());
      idlePoll.push(...(await poll()));
      const f = flood();
      // The unrelated request goes out right behind the logins, as the issue measured it.
      attackMe.push(await unrelated());
      attackPoll.push(...(await poll()));
      statuses.push(...(await f));
      const c = cheap();
      cheapPoll.push(...(await poll()));
      await c;
    }
    const count = (c: number) => statuses.filter((s) => s === c).length;
    const f1 = (x: number) => x.toFixed(1);
    console.log(`${wide ? 'throttle opened wide (all logins run scrypt)' : 'default throttle, one source address'}: ${LOGINS} parallel wrong logins x${ROUNDS}: ${count(401)} x 401, ${count(429)} x 429, scrypt runs ${ctx.passwords.runs}`);
    console.log(`  unrelated GET users/me  idle max ${f1(Math.max(...idleMe))} ms   under attack max ${f1(Math.max(...attackMe))} ms (target < 250 ms)`);
    console.log(`  ${DEVICES} devices polling x${ROUNDS}: idle p50 ${f1(pct(idlePoll, 50))} p99 ${f1(pct(idlePoll, 99))} ms   under attack p50 ${f1(pct(attackPoll, 50))} p99 ${f1(pct(attackPoll, 99))} ms   p99 ratio ${(pct(attackPoll, 99) / pct(idlePoll, 99)).toFixed(2)} of idle`);
    console.log(`  with ${LOGINS} cheap requests (401 on a bad token) instead: p50 ${f1(pct(cheapPoll, 50))} p99 ${f1(pct(cheapPoll, 99))} ms   login flood p99 ratio ${(pct(attackPoll, 99) / pct(cheapPoll, 99)).toFixed(2)} of the cheap flood`);
    agent.destroy();
  } finally {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await scenario(false);
await scenario(true);
