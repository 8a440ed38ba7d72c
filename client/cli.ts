// `flipside` on the device: the standalone commands of Mender's client (install, commit, rollback,
// resume, show-artifact, show-provides) with Mender's exit codes:
//   0 success, 1 error, 2 nothing to commit / roll back / resume, 4 reboot required
//   (install and rollback, only with --reboot-exit-code).
// Human messages go to stderr; stdout carries the FLIPSIDE-STATE lines and the show-* output.
import { Command, CommanderError } from 'commander';
import type { ClientConfig } from './config.js';
import { DEFAULT_CONFIG_PATH } from './config-path.js';
import { ClientError, errorMessage } from './errors.js';
import { isKeyType, KEY_TYPES, type KeyType } from './identity/key-types.js';
import type { UpdateMachine } from './state/machine.js';
import type { RunResult } from './state/types.js';
import { VERSION } from './version.js';
import { INJECTED_BUG, INJECTED_BUGS } from './injected-bug.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_NOTHING = 2;
export const EXIT_REBOOT = 4;

interface GlobalOpts {
  config: string;
  dataDir?: string;
  json?: boolean;
}

type Progress = { update(n: number): void; stop(): void; start(total: number, n: number): void };

async function progressBar(): Promise<{ onProgress?: (written: number, total: number) => void; stop: () => void }> {
  if (!process.stderr.isTTY) return { stop: () => undefined };
  const { default: cliProgress } = await import('cli-progress');
  const bar: Progress = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'Installing [{bar}] {percentage}% | {value}/{total} bytes', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    onProgress: (written, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(written);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

// Each command loads what it runs (the update machine, the daemon, zod's schema, execa, ws):
// `--help` and `--version` start in about bare-Node time.
const loadConfig: typeof import('./config.js').loadConfig = async (...a) => (await import('./config.js')).loadConfig(...a);

const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function describeDone(r: Extract<RunResult, { kind: 'done' }>, action: string): string {
  if (r.outcome === 'success') return `${action}: success`;
  const rb = r.rollback === 'done' ? 'rolled back' : r.rollback === 'none' ? 'nothing was changed' : `rollback ${r.rollback}`;
  return `${action} failed (${rb}): ${r.error ?? 'unknown error'}`;
}

/** DeviceKeyType from the config when it names a server, else the default. */
async function keyTypeOf(config: ClientConfig): Promise<KeyType> {
  const v = (config as Record<string, unknown>).DeviceKeyType;
  if (v !== undefined) {
    if (typeof v !== 'string' || !isKeyType(v)) throw new ClientError('CONFIG', `invalid configuration ${config.source}: DeviceKeyType: expected ${KEY_TYPES.join(', ')}`);
    return v;
  }
  return config.ServerURL || config.Servers?.length ? (await import('./api/from-config.js')).apiSettings(config).keyType : 'ed25519';
}

const SHOW_ARTIFACT_AFTER = 'then print the installed artifact as show-artifact would, as a last stdout line artifact_name=<name>';

/**
 * What show-artifact prints, read from the store after the command: a test harness that would
 * otherwise start the client again just to ask (tens of seconds under emulation) reads it here.
 */
async function printArtifactLine(machine: UpdateMachine): Promise<void> {
  process.stdout.write(`artifact_name=${(await machine.provides()).artifact_name ?? 'unknown'}\n`);
}

export async function main(argv: string[]): Promise<number> {
  let exit = EXIT_OK;
  if (INJECTED_BUG) process.stderr.write(`flipside: TEST BUILD with an injected bug (${INJECTED_BUG}: ${INJECTED_BUGS[INJECTED_BUG]}); never put it on a device\n`);
  const program = new Command('flipside')
    .description('Flipside OTA update client (Mender compatible): standalone commands and the managed daemon')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG_PATH)
    .option('-d, --data-dir <dir>', 'state directory (overrides DataDir)')
    .option('--json', 'machine-readable output where it makes sense')
    .exitOverride();

  const setup = async (): Promise<{ config: ClientConfig; machine: UpdateMachine; stop: () => void }> => {
    const g = program.opts<GlobalOpts>();
    const config = await loadConfig(g.config, { dataDir: g.dataDir });
    const bar = await progressBar();
    const { createMachine } = await import('./device.js');
    const machine = await createMachine(config, { mode: 'standalone', log: (l) => say(`flipside: ${l}`), onProgress: bar.onProgress });
    return { config, machine, stop: bar.stop };
  };

  program
    .command('install')
    .description('install an artifact from a file or http(s) URL')
    .argument('<artifact>', 'path or URL of a .mender artifact')
    .option('--reboot-exit-code', `exit with ${EXIT_REBOOT} when a reboot is needed to finish`)
    .action(async (artifact: string, o: { rebootExitCode?: boolean }) => {
      const { config, machine, stop } = await setup();
      const spool = config.DownloadResumeAcrossRestarts
        ? {
            dataDir: config.DataDir,
            download: { maxResumes: config.RetryDownloadCount, stallTimeoutMs: config.DownloadStallTimeoutSeconds * 1000 },
            log: (l: string) => say(`flipside: ${l}`),
          }
        : undefined;
      const { sourceFor } = await import('./sources.js');
      const source = sourceFor(artifact, spool);
      let r: RunResult;
      try {
        // The same URL again after a power cut in Download: continue that deployment from its spool.
        const stored = await machine.record();
        r = stored?.state === 'Download' && stored.source === source.describe && spool ? await machine.resume('resume', undefined, source) : await machine.install(source);
      } finally {
        stop();
      }
      if (r.kind === 'reboot-required') {
        say(`Installed ${r.artifactName}. Reboot the device, then run \`flipside commit\` to keep it or \`flipside rollback\` to drop it.`);
        exit = o.rebootExitCode ? EXIT_REBOOT : EXIT_OK;
      } else if (r.kind === 'done') {
        say(describeDone(r, 'install'));
        exit = r.outcome === 'success' ? EXIT_OK : EXIT_ERROR;
      }
    });

  program
    .command('commit')
    .description('commit the installed update (after the reboot into it)')
    .option('--show-artifact', SHOW_ARTIFACT_AFTER)
    .action(async (o: { showArtifact?: boolean }) => {
      const { machine } = await setup();
      if (!(await machine.record())) {
        say('No update in progress; nothing to commit.');
        exit = EXIT_NOTHING;
      } else {
        const r = await machine.resume('commit');
        if (r.kind === 'done') {
          say(describeDone(r, 'commit'));
          exit = r.outcome === 'success' ? EXIT_OK : EXIT_ERROR;
        } else {
          exit = EXIT_ERROR;
        }
      }
      if (o.showArtifact) await printArtifactLine(machine);
    });

  program
    .command('rollback')
    .description('roll back the installed, uncommitted update')
    .option('--reboot-exit-code', `exit with ${EXIT_REBOOT} when a reboot is needed to run the old rootfs`)
    .action(async (o: { rebootExitCode?: boolean }) => {
      const { machine } = await setup();
      if (!(await machine.record())) {
        say('No update in progress; nothing to roll back.');
        exit = EXIT_NOTHING;
        return;
      }
      const r = await machine.resume('rollback');
      if (r.kind !== 'done') {
        exit = EXIT_ERROR;
        return;
      }
      if (r.rollback === 'done' || r.rollback === 'none') {
        say(r.rebootRequired ? 'Rolled back. Reboot the device to run the previous rootfs.' : 'Rolled back.');
        exit = r.rebootRequired && o.rebootExitCode ? EXIT_REBOOT : EXIT_OK;
      } else {
        say(describeDone(r, 'rollback'));
        exit = EXIT_ERROR;
      }
    });

  program
    .command('resume')
    .description('continue an update interrupted by a power cut or kill, as far as standalone mode goes')
    .option('--show-artifact', SHOW_ARTIFACT_AFTER)
    .action(async (o: { showArtifact?: boolean }) => {
      const { machine } = await setup();
      const r = await machine.resume('resume');
      if (r.kind === 'idle') {
        say('No update in progress; nothing to resume.');
        exit = EXIT_NOTHING;
      } else if (r.kind === 'reboot-required') {
        say(`Update ${r.artifactName} is installed and waits for a reboot and \`flipside commit\`.`);
      } else if (r.kind === 'done') {
        say(describeDone(r, 'resumed update'));
        exit = r.outcome === 'success' ? EXIT_OK : EXIT_ERROR;
      }
      if (o.showArtifact) await printArtifactLine(machine);
    });

  program
    .command('show-artifact')
    .description('print the name of the installed artifact')
    .action(async () => {
      const { machine } = await setup();
      const p = await machine.provides();
      const g = program.opts<GlobalOpts>();
      process.stdout.write(g.json ? `${JSON.stringify({ artifact_name: p.artifact_name ?? null })}\n` : `${p.artifact_name ?? 'unknown'}\n`);
    });

  program
    .command('show-provides')
    .description('print what the device provides (key=value, or JSON with --json)')
    .action(async () => {
      const { machine } = await setup();
      const p = await machine.provides();
      const g = program.opts<GlobalOpts>();
      if (g.json) process.stdout.write(`${JSON.stringify(p)}\n`);
      else for (const k of Object.keys(p).sort()) process.stdout.write(`${k}=${p[k]}\n`);
    });

  program
    .command('daemon')
    .description('run the managed client: authenticate, send inventory, poll for deployments and install them')
    .action(async () => {
      const g = program.opts<GlobalOpts>();
      const config = await loadConfig(g.config, { dataDir: g.dataDir });
      const { Daemon, testKnobs } = await import('./daemon/daemon.js');
      const daemon = new Daemon(config, { log: (l) => say(`flipside daemon: ${l}`), ...testKnobs() });
      const handlers: Array<[NodeJS.Signals, () => void]> = [
        ['SIGUSR1', () => daemon.checkUpdateNow()],
        ['SIGUSR2', () => daemon.sendInventoryNow()],
        ['SIGTERM', () => daemon.stop()],
        ['SIGINT', () => daemon.stop()],
      ];
      for (const [sig, h] of handlers) process.on(sig, h);
      const r = await daemon.run();
      if (r === 'rebooting') {
        // The reboot command was started: the system takes the process down. Until then, idle.
        await new Promise<void>((resolve) => {
          const keep = setInterval(() => undefined, 60_000);
          process.once('SIGTERM', () => {
            clearInterval(keep);
            resolve();
          });
        });
      }
      for (const [sig, h] of handlers) process.off(sig, h);
    });

  program
    .command('bootstrap')
    .description('create the device key if there is none (with --force: replace it)')
    .option('--key-type <type>', `key type: ${KEY_TYPES.join(', ')} (default: DeviceKeyType or ed25519)`)
    .option('--force', 'replace an existing key (the device must be accepted again)')
    .action(async (o: { keyType?: string; force?: boolean }) => {
      const g = program.opts<GlobalOpts>();
      const config = await loadConfig(g.config, { dataDir: g.dataDir });
      if (o.keyType !== undefined && !isKeyType(o.keyType)) {
        say(`flipside: invalid --key-type ${JSON.stringify(o.keyType)}: expected one of ${KEY_TYPES.join(', ')}`);
        exit = EXIT_ERROR;
        return;
      }
      const keyType = o.keyType !== undefined && isKeyType(o.keyType) ? o.keyType : await keyTypeOf(config);
      const { bootstrap } = await import('./identity/bootstrap.js');
      const r = await bootstrap(config.DataDir, keyType, { force: o.force });
      say(r.created ? `Generated a new ${r.key.type} device key in ${config.DataDir}.` : `A ${r.key.type} device key already exists in ${config.DataDir}; kept it (use --force to replace it).`);
    });

  for (const [name, what] of [
    ['check-update', 'make the running daemon check for an update now (SIGUSR1)'],
    ['send-inventory', 'make the running daemon send its inventory now (SIGUSR2)'],
  ] as const) {
    program
      .command(name)
      .description(what)
      .action(async () => {
        const g = program.opts<GlobalOpts>();
        const config = await loadConfig(g.config, { dataDir: g.dataDir });
        const [{ signalDaemon }, { pidFileOf }] = await Promise.all([import('./daemon/control.js'), import('./daemon/daemon.js')]);
        const pid = await signalDaemon(pidFileOf(config), name);
        say(`Asked the daemon (pid ${pid}) to ${name === 'check-update' ? 'check for an update' : 'send its inventory'}.`);
      });
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help / --version exit 0; usage errors exit 1 with commander's message already printed.
      return e.exitCode === 0 ? EXIT_OK : EXIT_ERROR;
    }
    say(`flipside: ${errorMessage(e)}`);
    return EXIT_ERROR;
  }
  return exit;
}

/**
 * Loads every module a command loads on demand. A start-up snapshot (client/snapshot.ts) calls it
 * while it is built, so a start from the snapshot finds them loaded and initialised.
 */
export async function loadEveryCommand(): Promise<void> {
  await Promise.all([
    import('cli-progress'),
    import('./config.js'),
    import('./api/from-config.js'),
    import('./device.js'),
    import('./sources.js'),
    import('./daemon/daemon.js'),
    import('./daemon/control.js'),
    import('./identity/bootstrap.js'),
  ]);
}

/** Set by the snapshot's build script (client/snapshot.ts) while it loads the bundle: load, do not run. */
export const SNAPSHOT_BUILD_FLAG = '__flipsideSnapshotBuild';

// Run directly (`node --import tsx client/cli.ts`, or the device bundle): exit with main's code.
// The device bundle always runs (whatever its file is called), except inside a snapshot build;
// from source, only as the program.
declare const __FLIPSIDE_BUNDLE__: boolean | undefined;
const invokedDirectly =
  (typeof __FLIPSIDE_BUNDLE__ === 'boolean' && __FLIPSIDE_BUNDLE__ && !(globalThis as Record<string, unknown>)[SNAPSHOT_BUILD_FLAG]) ||
  (typeof process.argv[1] === 'string' && /(^|[\\/])cli\.ts$/.test(process.argv[1]));
if (invokedDirectly) runMain(process.argv.slice(2));

/** Runs the CLI with these arguments and sets the process's exit code from it. */
export function runMain(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      say(`flipside: ${errorMessage(e)}`);
      process.exitCode = EXIT_ERROR;
    },
  );
}
