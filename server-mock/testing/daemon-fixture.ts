// Test helper: a listening flipside-server and the managed daemon (Connect on) of one device on
// it, accepted and connected. The daemon's log lines can be awaited, the device's requests seen,
// and the daemon stopped and started again on the same data dir, as a device reboot does.
import type { ExecutionContext } from 'ava';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { startTestServer } from './fixtures.js';
import { connectDeviceConfig, runDaemon } from './connected-daemon.js';
import { acceptDevice } from '../admin-client.js';

/**
 * `extra` adds to the client's configuration. `logged(re)` resolves with the first line (of the
 * current daemon run) matching `re`; `stop()` and `start()` make a reboot.
 */
export async function connectedDaemon(t: ExecutionContext, mac: string, extra?: (dir: string) => Promise<Record<string, unknown>>) {
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
  const { dir, config } = await connectDeviceConfig(url, mac, extra);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let run = runDaemon(config);
  t.teardown(() => run.stop());
  await run.logged(/not authorized yet/);
  const deviceId = await acceptDevice(s, { mac });
  await run.logged(/deviceconnect: connected/);
  return {
    s,
    url,
    dir,
    get daemon() {
      return run.daemon;
    },
    get lines() {
      return run.lines;
    },
    logged: (re: RegExp) => run.logged(re),
    deviceId,
    seen,
    requested,
    /** Stops the daemon (its deviceconnect link closes), for a device that went away. */
    stop: () => run.stop(),
    /** Starts the daemon again on the same data dir and waits for its deviceconnect link. */
    start: async () => {
      run = runDaemon(config);
      await run.logged(/deviceconnect: connected/);
    },
  };
}
