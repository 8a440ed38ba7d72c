// BootEnv over a U-Boot environment located by fw_env.config, read and written exactly as
// libubootenv's fw_printenv/fw_setenv do, so the client, the tools and U-Boot agree.
// Redundant env: the copy that is not current gets the whole new env with the flag one past the
// current copy's, then fsync; a power cut during that write leaves a copy with a bad CRC and the
// old copy stays current. Single copy: written in place; a cut mid-write can tear it (U-Boot then
// boots with its built-in default env) - use a redundant env on anything that must survive cuts.
// Not done: the flock on /var/lock/fw_printenv.lock that libubootenv takes (Node has no flock);
// operations of one UBootEnv are serialized, but a concurrent fw_setenv run is not excluded.
import { resolve } from 'node:path';
import { readAt, resolveOffset, writeAtDurably } from './device-io.js';
import { formatHex as hex, readFwEnvConfig, type FwEnvConfig } from './fw-env-config.js';
import {
  applyChanges,
  checkCopy,
  chooseCurrent,
  decodeVars,
  diagnoseBlob,
  encodeBlob,
  fromEnvVars,
  nextFlag,
  PROBE_BYTES,
  toEnvVars,
  type BlobDiagnosis,
  type RawVars,
} from './uboot-env-format.js';
import { EnvError, type BootEnv, type EnvVars, type WriteObserver } from './types.js';

export interface UBootEnvOptions {
  /**
   * Used when no copy is valid, like `fw_setenv -f <file>`: read() returns it and write() starts
   * from it. Off unless given, so a wrong fw_env.config is reported instead of papered over.
   */
  defaultEnv?: EnvVars;
  /** Hears of every write and fsync to the env storage (the client's test write journal). */
  observer?: WriteObserver;
  /** A deliberately broken writer for mutation tests: rewrites the current copy in place. Never on a device. */
  writeInPlace?: boolean;
}

export interface UBootCopyState {
  device: string;
  /** Resolved byte offset (negative config offsets already applied). */
  offset: number;
  crcOk: boolean;
  /** Flags byte (redundant envs), else null. */
  flag: number | null;
  /** Why the copy is unusable, when its CRC failed. */
  problem?: BlobDiagnosis;
}

export interface UBootEnvState {
  /** Index of the copy in use, null when none is valid. */
  current: 0 | 1 | null;
  copies: UBootCopyState[];
}

interface Loaded {
  state: UBootEnvState;
  vars: RawVars | null;
}

export class UBootEnv implements BootEnv {
  readonly describe: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly config: FwEnvConfig,
    private readonly options: UBootEnvOptions = {},
  ) {
    const where = config.copies.map((c) => `${c.device}@${hex(c.offset)}`).join(' + ');
    this.describe = `u-boot env ${where} size ${hex(config.copies[0]!.size)} (${config.redundant ? 'redundant' : 'single copy'}, ${config.path})`;
  }

  static async fromConfigFile(path: string, options?: UBootEnvOptions): Promise<UBootEnv> {
    return new UBootEnv(await readFwEnvConfig(path), options);
  }

  /** Which copy is current and the state of each; does not throw when none is valid. */
  inspect(): Promise<UBootEnvState> {
    return this.exclusive(async () => (await this.load(true)).state);
  }

  read(): Promise<EnvVars> {
    return this.exclusive(async () => toEnvVars(this.usable(await this.load(false))));
  }

  intact(): Promise<boolean> {
    return this.exclusive(async () => (await this.load(false)).state.copies.every((c) => c.crcOk));
  }

  write(changes: Record<string, string | null>): Promise<void> {
    return this.exclusive(async () => {
      const loaded = await this.load(false);
      const next = applyChanges(this.usable(loaded), changes);
      const { redundant, copies } = this.config;
      const size = copies[0]!.size;
      const current = loaded.state.current;
      const target = redundant && current !== null ? (this.options.writeInPlace ? current : 1 - current) : 0;
      const flag = current === null ? 1 : nextFlag(loaded.state.copies[current]!.flag ?? 0);
      const blob = encodeBlob(next, size, redundant, flag);
      const { device, offset } = loaded.state.copies[target]!;
      await writeAtDurably(device, offset, blob, this.options.observer);
      const back = await readAt(device, offset, size);
      if (!back.equals(blob)) {
        throw new EnvError('IO', `u-boot env: read-back of ${device}@${hex(offset)} differs from what was written (read-only or failing storage?)`);
      }
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private usable(loaded: Loaded): RawVars {
    if (loaded.vars) return loaded.vars;
    if (this.options.defaultEnv) return fromEnvVars(this.options.defaultEnv);
    throw this.noValidCopyError(loaded.state);
  }

  private async load(diagnoseAlways: boolean): Promise<Loaded> {
    const { redundant, copies } = this.config;
    const size = copies[0]!.size;
    const states: UBootCopyState[] = [];
    const blobs: Buffer[] = [];
    for (const loc of copies) {
      const device = resolve(loc.device);
      const offset = await resolveOffset(device, loc.offset);
      if (offset < 0) {
        throw new EnvError('LOCATION_MISMATCH', `${this.config.path}:${loc.line}: offset ${hex(loc.offset)} lies before the start of ${device}`);
      }
      const blob = await readAt(device, offset, size);
      blobs.push(blob);
      const check = blob.length === size ? checkCopy(blob, redundant) : null;
      states.push({ device, offset, crcOk: check?.crcOk ?? false, flag: check?.flag ?? null });
    }
    const current = redundant
      ? chooseCurrent([states[0]!.crcOk, states[1]!.crcOk], [states[0]!.flag ?? 0, states[1]!.flag ?? 0])
      : states[0]!.crcOk
        ? 0
        : null;
    if (current === null || diagnoseAlways) {
      for (const s of states) {
        if (s.crcOk) continue;
        // Look past the configured size too, so an env of another size can be recognised.
        const probe = await readAt(s.device, s.offset, Math.max(size, PROBE_BYTES));
        s.problem = diagnoseBlob(probe, size, redundant);
      }
    }
    return { state: { current, copies: states }, vars: current === null ? null : decodeVars(blobs[current]!, redundant) };
  }

  private noValidCopyError(state: UBootEnvState): EnvError {
    const size = this.config.copies[0]!.size;
    const parts = state.copies.map((s, i) => {
      const line = this.config.copies[i]!.line;
      return `copy ${i + 1} (line ${line}) ${s.device} offset ${hex(s.offset)} size ${hex(size)}: ${s.problem?.detail ?? 'CRC mismatch'}`;
    });
    const damaged = state.copies.some((s) => s.problem?.kind === 'corrupt');
    const tried = `u-boot env: no valid copy where ${this.config.path} points: ${parts.join('; ')}`;
    if (damaged) {
      return new EnvError('NO_VALID_COPY', `${tried}. The env is damaged; U-Boot will boot with its built-in default env.`);
    }
    return new EnvError(
      'LOCATION_MISMATCH',
      `${tried}. Nothing there is this env: check device, offset and size in ${this.config.path} against the bootloader's ` +
        `CONFIG_ENV_OFFSET${this.config.redundant ? '/CONFIG_ENV_OFFSET_REDUND' : ''}/CONFIG_ENV_SIZE.`,
    );
  }
}
