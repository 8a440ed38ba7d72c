// The client under test, as scenarios call it: the same step (install, commit, show the committed
// artifact, poll the server now) is a different command line for the Flipside client and for
// Debian's Mender client (`flipside-lab run --client mender`), and each keeps its tuning and keys
// in its own data folder. Scenarios ask `ctx.client` for the command and `ctx.perClient` for an
// outcome that differs by design, so one scenario file states both.
import { generateKeyPairSync } from 'node:crypto';
import type { DataFiles } from '../board/board.js';
import type { ClientKind } from './client-kinds.js';

export { CLIENT_KINDS, parseClientKind, type ClientKind } from './client-kinds.js';

export interface ClientCommands {
  readonly kind: ClientKind;
  /** Prints the client's version. */
  version(): string;
  /** Standalone install of an artifact on the device (a path or URL). */
  install(artifact: string): string;
  /** Commits the update the device runs on trial. */
  commit(): string;
  rollback(): string;
  /** Prints the committed artifact's name (its last line). */
  showArtifact(): string;
  /**
   * Finishes an interrupted standalone update from its stored state; null where the client has no
   * such command (Mender picks an interrupted update up on its next command).
   */
  resume(): string | null;
  /** Makes the running daemon poll the server for a deployment now. */
  checkUpdate(): string;
  /** Makes the running daemon send its inventory now. */
  sendInventory(): string;
}

const FLIPSIDE: ClientCommands = {
  kind: 'flipside',
  version: () => 'flipside --version',
  install: (a) => `flipside install ${a}`,
  commit: () => 'flipside commit',
  rollback: () => 'flipside rollback',
  showArtifact: () => 'flipside show-artifact',
  resume: () => 'flipside resume',
  checkUpdate: () => 'flipside check-update',
  sendInventory: () => 'flipside send-inventory',
};

// Mender 3.4's own check-update/send-inventory find the daemon through systemctl, which the
// reference image does not have: signal it directly, as those commands do (SIGUSR1, SIGUSR2).
const MENDER: ClientCommands = {
  kind: 'mender',
  version: () => 'mender --version',
  install: (a) => `mender install ${a}`,
  commit: () => 'mender commit',
  rollback: () => 'mender rollback',
  showArtifact: () => 'mender show-artifact',
  resume: () => null,
  checkUpdate: () => 'kill -USR1 $(pidof mender)',
  sendInventory: () => 'kill -USR2 $(pidof mender)',
};

export function clientCommands(kind: ClientKind = 'flipside'): ClientCommands {
  return kind === 'mender' ? MENDER : FLIPSIDE;
}

/** Where each client keeps its state on the data partition (Mender: /var/lib/mender → /data/mender). */
export const CLIENT_DATA_DIR: Record<ClientKind, string> = { flipside: '/data/flipside', mender: '/data/mender' };

/** The trusted lab key on a device that requires signatures, beside the fallback config that names it. */
export const VERIFY_KEY_NAME = 'artifact-verify-key.pem';

export interface ClientSetup {
  /** Keys for the client's fallback config (it survives updates: it is on the data partition). */
  config: Record<string, unknown>;
  /** PEM of the key the device must require signatures from. */
  verifyKeyPem?: string;
  /** Managed mode (the daemon runs). */
  managed: boolean;
}

/** A device key made on the host: Mender 3.4 would make a 3072-bit RSA key itself, minutes under emulation. */
function menderDeviceKey(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;
}

/**
 * Files that tune the client of a fresh device for one scenario: its fallback config (Flipside:
 * /data/flipside/flipside.conf, a relative key path read beside it; Mender: /var/lib/mender/mender.conf,
 * absolute paths), the verify key, and Mender's device key in managed mode.
 */
export function clientDataFiles(kind: ClientKind, s: ClientSetup): DataFiles {
  const dir = CLIENT_DATA_DIR[kind];
  const files: DataFiles = {};
  const config: Record<string, unknown> = { ...s.config };
  if (s.verifyKeyPem) {
    files[`${dir}/${VERIFY_KEY_NAME}`] = { content: Buffer.from(s.verifyKeyPem) };
    config.ArtifactVerifyKey = kind === 'mender' ? `/var/lib/mender/${VERIFY_KEY_NAME}` : VERIFY_KEY_NAME;
  }
  const name = kind === 'mender' ? 'mender.conf' : 'flipside.conf';
  if (Object.keys(config).length > 0) files[`${dir}/${name}`] = { content: Buffer.from(`${JSON.stringify(config, null, 2)}\n`) };
  if (kind === 'mender' && s.managed) files[`${dir}/mender-agent.pem`] = { content: Buffer.from(menderDeviceKey()) };
  return files;
}
