// The one interface the installer and state machine use for any bootloader environment
// (U-Boot env as fw_setenv writes it, GRUB env block as grub-editenv writes it).

export type EnvVars = Record<string, string>;

export interface BootEnv {
  /** Human-readable description for errors and logs, e.g. "u-boot env /dev/vda@0x400000 (redundant)". */
  readonly describe: string;
  /** All variables of the current valid copy. Throws EnvError when no copy is valid. */
  read(): Promise<EnvVars>;
  /**
   * Sets (string) or removes (null) several variables in one atomic, durable write: after it
   * returns, the new values survive a power cut; a cut during it leaves the old or the new set, never a mix.
   */
  write(changes: Record<string, string | null>): Promise<void>;
  /**
   * False when a redundant env has lost a copy (its CRC fails: a write torn by a power cut). The
   * next write() goes to that copy, so any write makes the env redundant again. Absent on
   * single-copy envs.
   */
  intact?(): Promise<boolean>;
}

/**
 * Told of each write to env storage before it lands and of its fsync after: the client passes its
 * test write journal here, so a simulated power cut can drop what was written but never synced.
 */
export interface WriteObserver {
  /** `bytes`: what is being written (a test trace records it to rebuild crash states). */
  write(path: string, offset: number, length: number, bytes?: Buffer): void;
  sync(path: string): void;
}

// BAD_VARIABLE: a name or value the format cannot hold (empty name, '=' or NUL in a name, NUL
// in a value, a GRUB name with a newline...); raised before anything is written.
export type EnvErrorCode = 'NO_VALID_COPY' | 'LOCATION_MISMATCH' | 'CONFIG' | 'TOO_LARGE' | 'IO' | 'BAD_VARIABLE';

export class EnvError extends Error {
  constructor(
    readonly code: EnvErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EnvError';
  }
}
