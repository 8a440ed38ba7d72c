// The managed daemon with Connect and Configure enabled against a real flipside-server on
// loopback: once accepted it holds the deviceconnect link (a user's terminal runs a command
// through it), it applies the configuration a user set through the apply-device-config.d scripts
// and reports it (a failing script leaves the reported configuration as it was), and the
// server's check-update and send-inventory reach it over the link and make it act at once.
import test, { type ExecutionContext } from 'ava';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../client/config.js';
import { Daemon } from '../client/daemon/daemon.js';
import { startTestServer, acceptDevice } from './testing/fixtures.js';
import { UserSocket } from './testing/connect-fixtures.js';
import { PROTO, SHELL } from '../connect-protocol/protocol.js';

/**
 * A listening server and the daemon (Connect on) of one device on it, accepted and connected; the
 * daemon's log lines can be awaited. `extra` adds to the client's configuration.
 */
async function connectedDaemon(t: ExecutionContext, mac: string, extra: (dir: string) => Promise<Record<string, unknown>> = async () => ({})) {
  const dir = await mkdtemp(join(tmpdir(), 'flipside-daemon-connect-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const s = await startTestServer();
  t.teardown(() => s.close());
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
  // Every request the device makes, seen beside fastify's own handler (from before it starts).
  const seen: string[] = [];
  let onRequest: ((line: string) => void) | null = null;
  s.app.server.on('request', (req: { method?: string; url?: string }) => {
    const line = `${req.method} ${req.url}`;
    seen.push(line);
    onRequest?.(line);
  });
  const requested = (re: RegExp) => new Promise<void>((resolve) => (onRequest = (l) => re.test(l) && resolve()));
  const identity = join(dir, 'identity');
  await writeFile(identity, `#!/bin/sh\necho 'mac=${mac}'\n`);
  await chmod(identity, 0o755);
  await writeFile(join(dir, 'device_type'), 'device_type=test-device\n');
  const config = parseConfig(
    {
      RootfsPartA: join(dir, 'a'),
      RootfsPartB: join(dir, 'b'),
      DataDir: dir,
      ServerURL: url,
      IdentityScript: identity,
      InventoryScriptsDir: join(dir, 'no-inventory'),
      ArtifactInfoFile: join(dir, 'no-artifact-info'),
      RetryPollIntervalSeconds: 1,
      Connect: { Enabled: true, Terminal: 'pipe' },
      ...(await extra(dir)),
    },
    join(dir, 'flipside.conf'),
  );
  const waiting: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  const lines: string[] = [];
  const logged = (re: RegExp) => new Promise<string>((resolve) => {
    const seen = lines.find((l) => re.test(l));
    if (seen) resolve(seen);
    else waiting.push({ re, resolve });
  });
  const daemon = new Daemon(config, {
    backoffUnitMs: 20,
    log: (l) => {
      lines.push(l);
      for (const w of waiting.splice(0)) (w.re.test(l) ? w.resolve(l) : waiting.push(w));
    },
  });
  const done = daemon.run();
  t.teardown(async () => {
    daemon.stop();
    await done;
  });
  await logged(/not authorized yet/);
  await acceptDevice(s, { mac });
  await logged(/deviceconnect: connected/);
  const deviceId = (await s.app.flipside.store.listDevices({ limit: 10, offset: 0 }))[0]!.id;
  return { s, url, dir, daemon, lines, logged, deviceId, seen, requested };
}

test('daemon: deviceconnect terminal and deviceconfig applied by scripts and reported', async (t) => {
  let applied = '';
  const { s, url, daemon, logged, deviceId } = await connectedDaemon(t, '02:00:00:00:00:42', async (dir) => {
    const scripts = join(dir, 'apply-device-config.d');
    await mkdir(scripts);
    applied = join(dir, 'applied.json');
    // An apply script as Mender documents them: $1 is the configuration's JSON file.
    await writeFile(join(scripts, '10-record'), `#!/bin/sh\ngrep -q '"fail": "yes"' "$1" && { echo refusing >&2; exit 3; }\ncp "$1" ${applied}\n`);
    await chmod(join(scripts, '10-record'), 0o755);
    return { Configure: { Enabled: true, ScriptsDir: scripts } };
  });

  const u = await UserSocket.open(url, deviceId, s.adminToken);
  if (!(u instanceof UserSocket)) return t.fail(`${u.status} ${u.body}`);
  t.teardown(() => u.ws.terminate());
  u.send({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { terminal_width: 80, terminal_height: 24 } } });
  t.is((await u.next())?.hdr.props?.status, 1);
  u.send({ hdr: { proto: PROTO.shell, typ: SHELL.data }, body: Buffer.from('echo "daemon-$((40+2))"\nexit\n') });
  const out = await u.until((m) => m.hdr.typ === SHELL.stop);
  t.regex(Buffer.concat(out.map((m) => Buffer.from(m.body ?? []))).toString(), /daemon-42/);

  const cfgUrl = `/api/management/v1/deviceconfig/configurations/device/${deviceId}`;
  t.is((await s.app.inject({ method: 'PUT', url: cfgUrl, headers: s.auth, payload: { timezone: 'UTC', ntp: 'pool.ntp.org' } })).statusCode, 204);
  daemon.sendInventoryNow();
  await logged(/device configuration applied \(2 keys/);
  t.deepEqual(JSON.parse(await readFile(applied, 'utf8')), { timezone: 'UTC', ntp: 'pool.ntp.org' });
  const view = (await s.app.inject({ method: 'GET', url: cfgUrl, headers: s.auth })).json<{ configured: object; reported: object }>();
  t.deepEqual(view.reported, view.configured);

  t.is((await s.app.inject({ method: 'PUT', url: cfgUrl, headers: s.auth, payload: { timezone: 'CET', fail: 'yes' } })).statusCode, 204);
  daemon.sendInventoryNow();
  t.regex(await logged(/10-record failed/), /exit 3.*refusing/);
  const after = (await s.app.inject({ method: 'GET', url: cfgUrl, headers: s.auth })).json<{ configured: object; reported: object }>();
  t.deepEqual(after.reported, { timezone: 'UTC', ntp: 'pool.ntp.org' }, 'the failed configuration is not reported as applied');
  t.deepEqual(after.configured, { timezone: 'CET', fail: 'yes' });
  const bad = await s.app.inject({ method: 'PUT', url: cfgUrl, headers: s.auth, payload: { n: { nested: true } } });
  t.is(bad.statusCode, 400);
});

test('daemon: the server\'s check-update and send-inventory make the client poll and send its inventory now', async (t) => {
  // Far apart: within the test, only the server's requests make the client poll or send again.
  const { s, lines, deviceId, seen, requested } = await connectedDaemon(t, '02:00:00:00:00:43', async () => ({ UpdatePollIntervalSeconds: 3600, InventoryPollIntervalSeconds: 3600 }));
  const polls = () => seen.filter((l) => /deployments\/device\/deployments\/next/.test(l)).length;
  const inventories = () => seen.filter((l) => /^(PUT|PATCH) \/api\/devices\/v1\/inventory\/device\/attributes/.test(l)).length;
  // The first cycle after authorization: the inventory, then an update check.
  if (polls() === 0) await requested(/deployments\/next/);
  const [p0, i0] = [polls(), inventories()];

  const polled = requested(/deployments\/device\/deployments\/next/);
  t.is((await s.app.inject({ method: 'POST', url: `/api/management/v1/deviceconnect/devices/${deviceId}/check-update`, headers: s.auth })).statusCode, 202);
  await polled;
  t.is(polls(), p0 + 1);
  t.true(lines.includes('update check requested'));

  const sent = requested(/^(PUT|PATCH) \/api\/devices\/v1\/inventory\/device\/attributes/);
  t.is((await s.app.inject({ method: 'POST', url: `/api/management/v1/deviceconnect/devices/${deviceId}/send-inventory`, headers: s.auth })).statusCode, 202);
  await sent;
  t.is(inventories(), i0 + 1, 'sent although unchanged: the server asked for it');
  t.is(polls(), p0 + 1);
});

test('daemon: a deployed configuration is installed by a mender-configure update module', async (t) => {
  let modules = '';
  const { s, dir, logged, deviceId } = await connectedDaemon(t, '02:00:00:00:00:44', async (d) => {
    modules = join(d, 'modules');
    await mkdir(modules);
    return { ModulesDir: modules };
  });
  // What mender-configure does at ArtifactInstall: the payload's meta-data is the configuration.
  const installed = join(dir, 'device-config.json');
  await writeFile(
    join(modules, 'mender-configure'),
    `#!/bin/sh\ncase "$1" in\n  ArtifactInstall) cp "$2/header/meta-data" ${installed} ;;\n  NeedsArtifactReboot) echo No ;;\n  SupportsRollback) echo No ;;\nesac\nexit 0\n`,
  );
  await chmod(join(modules, 'mender-configure'), 0o755);
  const cfgUrl = `/api/management/v1/deviceconfig/configurations/device/${deviceId}`;
  t.is((await s.app.inject({ method: 'PUT', url: cfgUrl, headers: s.auth, payload: { hostname: 'lab-7' } })).statusCode, 204);
  const dep = await s.app.inject({ method: 'POST', url: `${cfgUrl}/deploy`, headers: s.auth, payload: {} });
  t.is(dep.statusCode, 200, dep.body);
  const deploymentId = dep.json<{ deployment_id: string }>().deployment_id;
  // The server's check-update brings it in now rather than at the next poll.
  t.is((await s.app.inject({ method: 'POST', url: `/api/management/v1/deviceconnect/devices/${deviceId}/check-update`, headers: s.auth })).statusCode, 202);
  t.regex(await logged(new RegExp(`deployment ${deploymentId} finished`)), /finished: success/);
  t.deepEqual(JSON.parse(await readFile(installed, 'utf8')), { hostname: 'lab-7' });
  const after = (await s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${deploymentId}`, headers: s.auth })).json<{ status: string; statistics: { status: Record<string, number> } }>();
  t.is(after.status, 'finished');
  t.is(after.statistics.status.success, 1);
});
