// The client's configuration: /etc/flipside/flipside.conf (JSON). Keys follow mender.conf where
// Mender has one (RootfsPartA, ArtifactVerifyKey, StateScriptTimeoutSeconds, ...), so an existing
// mender.conf mostly carries over; our own keys (DataDir, BootEnv, ActivePartitionFrom, BootVars,
// ConsoleStateLog) cover what Mender hard-codes. Without flipside.conf the client reads Mender's
// /etc/mender/mender.conf with Mender's paths as defaults, so it is a drop-in on a Mender board.
// Validated with zod; every problem names the file and key.
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ClientError, errorMessage } from './errors.js';
import { DEFAULT_CONFIG_PATH } from './config-path.js';

export { DEFAULT_CONFIG_PATH };
/** Read when flipside.conf is absent. */
export const MENDER_CONFIG_PATH = '/etc/mender/mender.conf';

/**
 * Where Mender keeps what our keys default to, used under a mender.conf: its data dir (persistent on
 * a Mender image, holding device_type, mender-agent.pem and the fallback mender.conf), artifact_info,
 * rootfs state scripts and update modules.
 */
export const MENDER_PATH_DEFAULTS = {
  DataDir: '/var/lib/mender',
  ArtifactInfoFile: '/etc/mender/artifact_info',
  ScriptsDir: '/etc/mender/scripts',
  ModulesDir: '/usr/share/mender/modules/v3',
} as const;

export type ConfigFlavor = 'flipside' | 'mender';

const DEFAULT_DATA_DIR = '/var/lib/flipside';

const path = z.string().min(1);
const seconds = z.number().int().positive();

const bootVarsSchema = z
  .object({
    /**
     * Variable holding the partition to boot. Unset: Mender's mender_boot_part (with
     * mender_boot_part_hex), or boot_part on an env from before Flipside used Mender's names
     * (client/install/boot-vars.ts).
     */
    BootPart: z.string().min(1).optional(),
    /** A second variable with the same partition in hex (unset with BootPart unset: mender_boot_part_hex). */
    BootPartHex: z.string().min(1).optional(),
    UpgradeAvailable: z.string().min(1).default('upgrade_available'),
    BootCount: z.string().min(1).default('bootcount'),
    /** Values of BootPart for partition A and B, e.g. "2"/"3" or "a"/"b". */
    ValueA: z.string().min(1).default('2'),
    ValueB: z.string().min(1).default('3'),
  })
  .strict()
  .refine((v) => v.ValueA !== v.ValueB, { message: 'ValueA and ValueB must differ' });

const bootEnvSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('uboot'), fwEnvConfig: path.default('/etc/fw_env.config') }).strict(),
  z.object({ type: z.literal('grub'), envFile: path }).strict(),
]);

const serverSchema = z.object({ ServerURL: z.string().url() }).passthrough();

export const configSchema = z
  .object({
    RootfsPartA: path,
    RootfsPartB: path,
    /** Read each block of the inactive partition before writing it and skip it when unchanged. */
    SkipUnchangedBlocks: z.boolean().default(false),
    ArtifactVerifyKey: path.optional(),
    ArtifactVerifyKeys: z.array(path).optional(),
    DeviceTypeFile: path.optional(),
    /** The image's own `artifact_name=` (and `artifact_group=`) lines, used until an update is stored. */
    ArtifactInfoFile: path.default('/etc/flipside/artifact_info'),
    StateScriptTimeoutSeconds: seconds.default(3600),
    StateScriptRetryTimeoutSeconds: seconds.default(1800),
    StateScriptRetryIntervalSeconds: seconds.default(60),
    ModuleTimeoutSeconds: seconds.default(14400),
    ServerURL: z.string().url().optional(),
    Servers: z.array(serverSchema).optional(),
    UpdatePollIntervalSeconds: seconds.optional(),
    InventoryPollIntervalSeconds: seconds.optional(),
    DataDir: path.default(DEFAULT_DATA_DIR),
    BootEnv: bootEnvSchema.default({ type: 'uboot', fwEnvConfig: '/etc/fw_env.config' }),
    ActivePartitionFrom: z.enum(['cmdline', 'mount']).default('cmdline'),
    /** Where the active partition is read from; tests and the host-sim point these at files. */
    ProcCmdline: path.default('/proc/cmdline'),
    MountTable: path.default('/proc/self/mounts'),
    BootVars: bootVarsSchema.default({}),
    /** Also print each FLIPSIDE-STATE line here (e.g. /dev/kmsg) so the console shows it. */
    ConsoleStateLog: path.optional(),
    /** Rootfs (not artifact) state scripts. */
    ScriptsDir: path.default('/etc/flipside/scripts'),
    ModulesDir: path.default('/usr/share/flipside/modules/v3'),
    /** Command the client runs for a reboot it performs itself (daemon mode only). */
    RebootCommand: z.array(z.string().min(1)).min(1).default(['reboot']),
    /** Daemon: Mender's identity script (prints key=value lines identifying the device). */
    IdentityScript: path.default('/usr/share/mender/identity/mender-device-identity'),
    /** Daemon: directory of mender-inventory-* scripts. */
    InventoryScriptsDir: path.default('/usr/share/mender/inventory'),
    /** Daemon: how long the commit after the reboot waits for the server to accept `installing` before rolling back. */
    CommitStatusTimeoutSeconds: seconds.default(300),
    /** Daemon: reconnections of one artifact download (Mender's RetryDownloadCount). */
    RetryDownloadCount: z.number().int().min(1).max(10000).default(10),
    /** Daemon: no download byte for this long drops the connection and resumes. */
    DownloadStallTimeoutSeconds: seconds.default(60),
    /**
     * Resume an interrupted download after a restart or power loss from the spool on the data
     * partition (client/download-spool.ts). false = Mender's behaviour: the deployment fails and a
     * new one starts over.
     */
    DownloadResumeAcrossRestarts: z.boolean().default(true),
    /** Restarts of one deployment's download before it fails (each after a reboot or kill). */
    DownloadResumeMaxCount: z.number().int().min(0).max(10000).default(20),
    /** How long after its start a deployment's download may still be resumed (default a week). */
    DownloadResumeMaxSeconds: seconds.default(7 * 24 * 3600),
    /** Daemon: pid file `flipside check-update` / `send-inventory` signal (SIGUSR1 / SIGUSR2). */
    PidFile: path.optional(),
    /** Daemon: remote terminal, file transfer and port forward through the server (mender-connect's job). Off unless enabled. */
    Connect: z
      .object({
        Enabled: z.boolean().default(false),
        /** mender-connect's ShellCommand. */
        ShellCommand: path.default('/bin/sh'),
        /** auto: a pty through util-linux `script` when installed, else pipes. */
        Terminal: z.enum(['auto', 'script', 'pipe']).default('auto'),
        /** mender-connect's MaxShellsSpawned. */
        MaxShells: z.number().int().min(1).max(100).default(5),
        FileTransfer: z.boolean().default(true),
        PortForward: z.boolean().default(true),
      })
      .strict()
      .default({}),
    /** Daemon: device configuration from the server applied by scripts (mender-configure's job). Off unless enabled. */
    Configure: z
      .object({
        Enabled: z.boolean().default(false),
        /** Executables run in name order with the configuration's JSON file as $1. */
        ScriptsDir: path.default('/usr/lib/mender-configure/apply-device-config.d'),
        TimeoutSeconds: seconds.default(120),
      })
      .strict()
      .default({}),
  })
  // Unknown keys from a mender.conf (TenantToken, ...) are kept rather than refused so that a
  // mender.conf can be used as is; typos in our keys are caught by the required/typed ones.
  .passthrough()
  .refine((c) => c.RootfsPartA !== c.RootfsPartB, { message: 'RootfsPartA and RootfsPartB must differ', path: ['RootfsPartB'] });

export type ClientConfig = z.infer<typeof configSchema> & {
  /** Resolved: DeviceTypeFile or <DataDir>/device_type. */
  deviceTypeFile: string;
  /** All verify keys (ArtifactVerifyKey + ArtifactVerifyKeys). */
  verifyKeyPaths: string[];
  /** The file the config was read from (for messages). */
  source: string;
};

export interface ConfigOverrides {
  dataDir?: string;
}

/**
 * A mender.conf as our schema reads it: Mender's paths under it, and an empty ServerURL (Mender's
 * way of saying "no server", e.g. standalone images) left out rather than refused as a bad URL.
 */
function fromMender(json: unknown): unknown {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return json;
  const out: Record<string, unknown> = { ...MENDER_PATH_DEFAULTS, ...json };
  if (out.ServerURL === '') delete out.ServerURL;
  return out;
}

/** Validates a parsed config object; `source` names the file in error messages. */
export function parseConfig(json: unknown, source: string, overrides: ConfigOverrides = {}, flavor: ConfigFlavor = 'flipside'): ClientConfig {
  const r = configSchema.safeParse(flavor === 'mender' ? fromMender(json) : json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
    throw new ClientError('CONFIG', `invalid configuration ${source}: ${issues.join('; ')}`);
  }
  const c = r.data;
  const base = dirname(resolve(source));
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const dataDir = abs(overrides.dataDir ?? c.DataDir);
  const keys = [...(c.ArtifactVerifyKey ? [c.ArtifactVerifyKey] : []), ...(c.ArtifactVerifyKeys ?? [])];
  return {
    ...c,
    DataDir: dataDir,
    deviceTypeFile: c.DeviceTypeFile ? abs(c.DeviceTypeFile) : join(dataDir, 'device_type'),
    verifyKeyPaths: keys.map(abs),
    source,
  };
}

async function readJsonObject(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ClientError('CONFIG', `cannot read configuration ${file}: ${errorMessage(e)}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ClientError('CONFIG', `configuration ${file} is not valid JSON: ${errorMessage(e)}`, { cause: e });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ClientError('CONFIG', `configuration ${file} must be a JSON object`);
  return json as Record<string, unknown>;
}

/** The fallback configuration beside the state (Mender's /var/lib/mender/mender.conf): it survives rootfs updates. */
export const FALLBACK_CONFIG_NAME = 'flipside.conf';
const MENDER_FALLBACK_CONFIG_NAME = 'mender.conf';

const isMissing = (e: unknown) => e instanceof ClientError && (e.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';

export interface ConfigSources {
  /**
   * Read when `file` does not exist. Default: Mender's /etc/mender/mender.conf when `file` is the
   * default path; null: no fallback (an explicit `--config` that is missing is an error).
   */
  menderConfig?: string | null;
}

/**
 * The main file, over `<DataDir>/flipside.conf` when that exists: as Mender merges
 * /etc/mender/mender.conf over /var/lib/mender/mender.conf, a key in the main file wins and the
 * fallback fills in what the main file leaves out. Without the main file, Mender's own pair is
 * read the same way (mender.conf over <DataDir>/mender.conf, DataDir defaulting to /var/lib/mender).
 */
export async function loadConfig(file: string = DEFAULT_CONFIG_PATH, overrides: ConfigOverrides = {}, sources: ConfigSources = {}): Promise<ClientConfig> {
  const menderFile = sources.menderConfig !== undefined ? sources.menderConfig : file === DEFAULT_CONFIG_PATH ? MENDER_CONFIG_PATH : null;
  let main: Record<string, unknown>;
  let flavor: ConfigFlavor = 'flipside';
  let source = file;
  try {
    main = await readJsonObject(file);
  } catch (e) {
    if (!menderFile || !isMissing(e)) throw e;
    try {
      main = await readJsonObject(menderFile);
    } catch (m) {
      if (isMissing(m)) throw new ClientError('CONFIG', `no configuration: neither ${file} nor Mender's ${menderFile} exists`, { cause: m });
      throw m;
    }
    flavor = 'mender';
    source = menderFile;
  }
  // Validated only once merged: meta-mender keeps RootfsPartA/B in the fallback alone by default
  // (MENDER_PERSISTENT_CONFIGURATION_VARS), so the main file need not be complete by itself.
  const fallbackFile = join(dataDirOf(main, source, overrides, flavor), flavor === 'mender' ? MENDER_FALLBACK_CONFIG_NAME : FALLBACK_CONFIG_NAME);
  let fallback: Record<string, unknown> = {};
  if (resolve(fallbackFile) !== resolve(source)) {
    try {
      fallback = withPathsFrom(fallbackFile, await readJsonObject(fallbackFile));
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
  }
  return parseConfig({ ...fallback, ...main }, source, overrides, flavor);
}

/** DataDir as parseConfig will resolve it, read before the whole file is validated. */
function dataDirOf(main: Record<string, unknown>, source: string, overrides: ConfigOverrides, flavor: ConfigFlavor): string {
  const configured = typeof main.DataDir === 'string' && main.DataDir ? main.DataDir : undefined;
  const dir = overrides.dataDir ?? configured ?? (flavor === 'mender' ? MENDER_PATH_DEFAULTS.DataDir : DEFAULT_DATA_DIR);
  return isAbsolute(dir) ? dir : resolve(dirname(resolve(source)), dir);
}

/** The keys whose relative paths are read against the folder of the file that names them. */
const RELATIVE_PATH_KEYS = ['ArtifactVerifyKey', 'ArtifactVerifyKeys', 'DeviceTypeFile'] as const;

/**
 * A fallback file's relative paths made absolute against its own folder: once merged, they would
 * otherwise be read against the main file's folder, which the fallback's author never saw.
 */
function withPathsFrom(file: string, json: Record<string, unknown>): Record<string, unknown> {
  const base = dirname(resolve(file));
  const abs = (p: unknown) => (typeof p === 'string' && p && !isAbsolute(p) ? resolve(base, p) : p);
  const out = { ...json };
  for (const key of RELATIVE_PATH_KEYS) {
    const v = out[key];
    if (v !== undefined) out[key] = Array.isArray(v) ? v.map(abs) : abs(v);
  }
  return out;
}

/** Reads `device_type=<x>` from the device type file (Mender's format). */
export async function readDeviceType(config: ClientConfig): Promise<string> {
  let text: string;
  try {
    text = await readFile(config.deviceTypeFile, 'utf8');
  } catch (e) {
    throw new ClientError('CONFIG', `cannot read device type file ${config.deviceTypeFile}: ${errorMessage(e)}`, { cause: e });
  }
  const m = /^device_type=(.+)$/m.exec(text);
  if (!m || !m[1]!.trim()) throw new ClientError('CONFIG', `${config.deviceTypeFile} has no device_type=<type> line`);
  return m[1]!.trim();
}

/**
 * The image's artifact_info (`artifact_name=…`, optional `artifact_group=…`), or null when the
 * file is absent: a device that was never updated provides what its image says it is.
 */
export async function readArtifactInfo(file: string): Promise<Record<string, string> | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ClientError('CONFIG', `cannot read artifact info file ${file}: ${errorMessage(e)}`, { cause: e });
  }
  const provides: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(artifact_name|artifact_group)=(.*)$/.exec(line.trim());
    if (m && m[2]) provides[m[1]!] = m[2];
  }
  if (!provides.artifact_name) throw new ClientError('CONFIG', `${file} has no artifact_name=<name> line`);
  return provides;
}
