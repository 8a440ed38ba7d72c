// Test helper: a listening flipside-server and the managed daemon (Connect on) of one device on
// it, accepted and connected. The daemon's log lines can be awaited, and the daemon can be stopped
// and started again on the same data dir, as a device reboot does.
import type { ExecutionContext } from 'ava';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../client/config.js';
import { Daemon } from '../../client/daemon/daemon.js';
import { startTestServer, acceptDevice } from './fixtures.js';

/**
 * `extra` adds to the client's configuration. `logged(re)` resolves with the first line (of this
 * daemon run) matching `re`; `reboot()` stops the daemon and starts a new one on the same files.
 */
export async function connectedDaemon(t: ExecutionContext, mac: string, extra: (dir: string) => Promise<Record<string, unknown>> = async () => ({})) {
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
  let waiting: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  let lines: string[] = [];
  const logged = (re: RegExp) =>
    new Promise<string>((resolve) => {
      const seen = lines.find((l) => re.test(l));
      if (seen) resolve(seen);
      else waiting.push({ re, resolve });
    });
  const start = () => {
    lines = [];
    waiting = [];
    const own = lines;
    const daemon = new Daemon(config, {
      backoffUnitMs: 20,
      log: (l) => {
        own.push(l);
        if (own !== lines) return;
        for (const w of waiting.splice(0)) (w.re.test(l) ? w.resolve(l) : waiting.push(w));
      },
    });
    const done = daemon.run();
    return { daemon, stop: async () => (daemon.stop(), await done) };
  };
  let run = start();
  t.teardown(() => run.stop());
  await logged(/not authorized yet/);
  await acceptDevice(s, { mac });
  await logged(/deviceconnect: connected/);
  const deviceId = s.app.flipside.store.listDevices({ limit: 10, offset: 0 })[0]!.id;
  return {
    s,
    url,
    dir,
    get daemon() {
      return run.daemon;
    },
    get lines() {
      return lines;
    },
    logged,
    deviceId,
    seen,
    requested,
    /** Stops the daemon (its deviceconnect link closes), for a device that went away. */
    stop: () => run.stop(),
    /** Starts the daemon again on the same data dir and waits for its deviceconnect link. */
    start: async () => {
      run = start();
      await logged(/deviceconnect: connected/);
    },
  };
}
