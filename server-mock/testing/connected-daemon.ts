// The Flipside daemon of one device with Connect on, against a listening server: it authorizes,
// an administrator accepts it, and it holds the deviceconnect link. Its log lines can be awaited.
// Used by the daemon's connect tests and the web UI's terminal tests.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../client/config.js';
import { Daemon } from '../../client/daemon/daemon.js';
import { acceptDevice, type AdminSession } from '../admin-client.js';

export interface ConnectedDaemon {
  dir: string;
  daemon: Daemon;
  deviceId: string;
  lines: string[];
  /** The first log line (already written or to come) matching re. */
  logged(re: RegExp): Promise<string>;
  /** Stops the daemon and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts the daemon of a device `mac=<mac>` on `url` and accepts it through `admin`; resolves once
 * its deviceconnect link is up. `extra(dir)` adds to the client's configuration.
 */
export async function startConnectedDaemon(url: string, admin: AdminSession, mac: string, extra: (dir: string) => Promise<Record<string, unknown>> = async () => ({})): Promise<ConnectedDaemon> {
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
  const stop = async () => {
    daemon.stop();
    await done;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await logged(/not authorized yet/);
    const deviceId = await acceptDevice(admin, { mac });
    await logged(/deviceconnect: connected/);
    return { dir, daemon, deviceId, lines, logged, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
