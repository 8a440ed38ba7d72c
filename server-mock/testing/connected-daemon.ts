// The Flipside daemon of one device with Connect on, against a listening server: it authorizes,
// an administrator accepts it, and it holds the deviceconnect link. Its log lines can be awaited.
// Used by the daemon's connect tests, the web UI's terminal tests and the harness's deviceconnect
// console (through daemon-fixture.ts, which also restarts it as a device reboot does).
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type ClientConfig } from '../../client/config.js';
import { Daemon } from '../../client/daemon/daemon.js';
import { acceptDevice, type AdminSession } from '../admin-client.js';

export interface DaemonRun {
  daemon: Daemon;
  lines: string[];
  /** The first log line of this run (already written or to come) matching re. */
  logged(re: RegExp): Promise<string>;
  /** Stops the daemon; its files stay. */
  stop(): Promise<void>;
}

export interface ConnectedDaemon extends Omit<DaemonRun, 'stop'> {
  dir: string;
  deviceId: string;
  /** Stops the daemon and removes its folder. */
  stop(): Promise<void>;
}

/** A fresh data folder with the identity and device_type files of a device `mac=<mac>`, and its client configuration. */
export async function connectDeviceConfig(url: string, mac: string, extra: (dir: string) => Promise<Record<string, unknown>> = async () => ({})): Promise<{ dir: string; config: ClientConfig }> {
  const dir = await mkdtemp(join(tmpdir(), 'flipside-daemon-connect-'));
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
  return { dir, config };
}

/** Runs the daemon on `config`, its log lines kept and awaitable. */
export function runDaemon(config: ClientConfig): DaemonRun {
  const waiting: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  const lines: string[] = [];
  const logged = (re: RegExp) =>
    new Promise<string>((resolve) => {
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
  return {
    daemon,
    lines,
    logged,
    stop: async () => {
      daemon.stop();
      await done;
    },
  };
}

/**
 * Starts the daemon of a device `mac=<mac>` on `url` and accepts it through `admin`; resolves once
 * its deviceconnect link is up. `extra(dir)` adds to the client's configuration.
 */
export async function startConnectedDaemon(url: string, admin: AdminSession, mac: string, extra?: (dir: string) => Promise<Record<string, unknown>>): Promise<ConnectedDaemon> {
  const { dir, config } = await connectDeviceConfig(url, mac, extra);
  const run = runDaemon(config);
  const stop = async () => {
    await run.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await run.logged(/not authorized yet/);
    const deviceId = await acceptDevice(admin, { mac });
    await run.logged(/deviceconnect: connected/);
    return { ...run, dir, deviceId, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
