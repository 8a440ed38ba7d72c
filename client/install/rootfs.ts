// The built-in A/B rootfs installer (Mender's rootfs-image): streams the payload into the inactive
// partition, flips the bootloader env in one write, and after the reboot checks that the system
// really runs from the new partition before it lets the update commit. Everything it must know
// after a kill (which partition it wrote, what it hashed, where the env pointed before) lives in
// <workDir>/rootfs.json, written before the step that depends on it.
import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { PayloadEntry } from '../../artifact/types.js';
import type { BootEnv } from '../../bootenv/types.js';
import { ClientError, errorMessage } from '../errors.js';
import { JsonStore } from '../state/store.js';
import { killAtByte } from '../test-hooks.js';
import { syncHandle } from '../durable.js';
import { payloadPuller, readerVerifies } from '../../artifact/reader.js';
import { INJECTED_BUG } from '../injected-bug.js';
import { traceOp } from '../test-hooks.js';
import { otherSlot, type Slot } from './active-partition.js';
import { partitionSize } from './partition-size.js';
import { openDirect } from './direct-io.js';
import { writePayload } from './partition-writer.js';
import { saveenvCanaryProblem } from './boot-vars.js';
import type { InstallContext, PayloadInstaller, RebootNeed } from './types.js';

export interface BootVarNames {
  BootPart: string;
  BootPartHex?: string;
  UpgradeAvailable: string;
  BootCount: string;
  ValueA: string;
  ValueB: string;
}

export interface RootfsInstallerOptions {
  partA: string;
  partB: string;
  env: BootEnv;
  vars: BootVarNames;
  /** Which slot the running system booted from. */
  activeSlot: () => Promise<Slot>;
  /** Performs a reboot (daemon mode); standalone mode never calls it. */
  reboot?: () => Promise<void>;
  ctx: InstallContext;
  /**
   * Read each target block first and skip the write when it already holds the bytes (config
   * SkipUnchangedBlocks). Pays off where reads are much cheaper than writes (SD cards, eMMC) and
   * many blocks repeat; costs a read per block otherwise (bench/client.bench.ts measures both).
   */
  skipUnchangedBlocks?: boolean;
  /** Called with the bytes written so far, for progress output. */
  onProgress?: (written: number, total: number) => void;
}

const workStateSchema = z.object({
  target: z.enum(['A', 'B']),
  original: z.enum(['A', 'B']),
  expectedSha256: z.string(),
  size: z.number().int().nonnegative(),
  /** Set once the whole payload is written and fsynced; our own hash of what was written. */
  writtenSha256: z.string().nullable(),
  /** Set by downloadDone: the artifact reader verified manifest, signature and payload checksum. */
  readerVerified: z.boolean(),
});
type WorkState = z.infer<typeof workStateSchema>;

const STATE_KEY = 'rootfs';

// A refused payload stream is drained (the reader keeps hashing to the end) and may still be
// destroyed with an error by the reader later: that error is the reader's to report, not a crash.
function discard(stream: Readable): void {
  stream.on('error', () => undefined);
  stream.resume();
}

export class RootfsInstaller implements PayloadInstaller {
  private readonly store: JsonStore;

  constructor(private readonly o: RootfsInstallerOptions) {
    this.store = new JsonStore(o.ctx.workDir);
  }

  private partPath(s: Slot): string {
    return s === 'A' ? this.o.partA : this.o.partB;
  }

  private partValue(s: Slot): string {
    return s === 'A' ? this.o.vars.ValueA : this.o.vars.ValueB;
  }

  private bootPartChanges(s: Slot): Record<string, string> {
    const v = this.partValue(s);
    const out: Record<string, string> = { [this.o.vars.BootPart]: v };
    if (this.o.vars.BootPartHex) {
      const n = Number.parseInt(v, 10);
      out[this.o.vars.BootPartHex] = Number.isNaN(n) ? v : n.toString(16);
    }
    return out;
  }

  private async state(): Promise<WorkState | null> {
    return this.store.read(STATE_KEY, workStateSchema);
  }

  private async requireState(what: string): Promise<WorkState> {
    const s = await this.state();
    if (!s) throw new ClientError('PARTITION', `${what}: no rootfs payload was written for this update`);
    return s;
  }

  async storeFile(entry: PayloadEntry, stream: Readable): Promise<void> {
    try {
      await this.storeFileChecked(entry, stream);
    } catch (e) {
      discard(stream);
      throw e;
    }
  }

  private async storeFileChecked(entry: PayloadEntry, stream: Readable): Promise<void> {
    if (await this.state()) {
      throw new ClientError('PAYLOAD_TYPE', `rootfs-image payload has more than one file (second: ${entry.name})`);
    }
    // Read the env first: an unreadable env or a pending upgrade must stop us before any byte lands.
    const env = await this.o.env.read();
    if (env[this.o.vars.UpgradeAvailable] === '1') {
      throw new ClientError(
        'BOOT_ENV',
        `${this.o.env.describe}: ${this.o.vars.UpgradeAvailable}=1, an earlier update is not committed; commit or roll back first`,
      );
    }
    const canary = saveenvCanaryProblem(env);
    if (canary) throw new ClientError('BOOT_ENV', `${this.o.env.describe}: ${canary}; nothing was written`);
    const original = await this.o.activeSlot();
    const target = otherSlot(original);
    const path = this.partPath(target);
    const capacity = await partitionSize(path);
    if (entry.size > capacity) {
      throw new ClientError(
        'PAYLOAD_TOO_LARGE',
        `payload ${entry.name} is ${entry.size} bytes but partition ${path} holds only ${capacity}; nothing was written`,
      );
    }
    await this.store.write(STATE_KEY, {
      target,
      original,
      expectedSha256: entry.checksum.toLowerCase(),
      size: entry.size,
      writtenSha256: null,
      readerVerified: false,
    } satisfies WorkState);
    this.o.ctx.log(`writing ${entry.name} (${entry.size} bytes) to ${path} (slot ${target})`);
    const sha = await this.writePartition(path, target, entry, stream);
    const s = await this.requireState('storeFile');
    await this.store.write(STATE_KEY, { ...s, writtenSha256: sha });
  }

  // Positional writes into a partition opened without truncation (a file-backed partition keeps
  // its size), fsynced once at the end, before anything may depend on the bytes. The pipeline: the
  // reader's decompressor (the zstd/xz subprocess, or in-process) runs on the other core, the
  // reader hashes each chunk as we pull it (payloadPuller: no stream machinery, reused buffers)
  // and partition-writer.ts writes whole aligned megabytes from the thread pool meanwhile. A
  // stream from readArtifact ends only once its bytes matched the manifest's SHA-256, so it is not
  // hashed a second time; any other stream is (and is read as a stream).
  private async writePartition(path: string, target: Slot, entry: PayloadEntry, stream: Readable): Promise<string> {
    let fh;
    try {
      fh = await open(path, 'r+');
    } catch (e) {
      throw new ClientError('PARTITION', `cannot open partition ${path} for writing: ${errorMessage(e)}`, { cause: e });
    }
    const verified = readerVerifies(stream);
    const hash = verified ? null : createHash('sha256');
    let next: () => Promise<Buffer | null>;
    const puller = verified ? payloadPuller(stream) : null;
    if (puller) next = () => puller.next();
    else {
      const it = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      next = async () => {
        const r = await it.next();
        if (r.done) return null;
        hash?.update(r.value);
        return r.value;
      };
    }
    let written = 0;
    // Whole megabytes bypass the page cache where the target takes O_DIRECT (direct-io.ts); the
    // power-cut tests' byte hook cuts between chunk writes, through the page cache as before.
    const killAt = killAtByte();
    const direct = killAt ? null : await openDirect(path);
    try {
      written = await writePayload(next, {
        fh,
        direct,
        path,
        size: entry.size,
        tooLong: () => new ClientError('CHECKSUM', `payload ${entry.name} is longer than its declared ${entry.size} bytes`),
        skipUnchanged: this.o.skipUnchangedBlocks,
        killAt,
        onProgress: (n) => {
          written = n;
          this.o.onProgress?.(n, entry.size);
        },
      });
      if (written !== entry.size) {
        throw new ClientError('CHECKSUM', `payload ${entry.name} ended after ${written} of ${entry.size} bytes`);
      }
      if (INJECTED_BUG !== 'skip-fsync') {
        await syncHandle(fh, path);
      }
    } catch (e) {
      if (INJECTED_BUG === 'flip-before-checksum') await this.flip(target).catch(() => undefined);
      const code = (e as NodeJS.ErrnoException).code;
      // Typed errors (ours, or the reader's CHECKSUM_MISMATCH that destroyed the stream) pass through.
      if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) throw e;
      throw new ClientError(code === 'ENOSPC' ? 'PAYLOAD_TOO_LARGE' : 'PARTITION', `writing ${path} failed after ${written} bytes: ${errorMessage(e)}`, { cause: e });
    } finally {
      await direct?.close().catch(() => undefined);
      await fh.close().catch(() => undefined);
    }
    // The reader's stream ended cleanly: its bytes (all written above) have the manifest's digest.
    return hash ? hash.digest('hex') : entry.checksum.toLowerCase();
  }

  async downloadDone(): Promise<void> {
    const s = await this.requireState('download');
    await this.store.write(STATE_KEY, { ...s, readerVerified: true });
  }

  async install(): Promise<void> {
    const s = await this.requireState('install');
    const unvalidated = INJECTED_BUG === 'resume-unvalidated';
    if (!s.readerVerified && !unvalidated) throw new ClientError('CHECKSUM', 'refusing to switch partitions: the artifact was not verified');
    if (s.writtenSha256 !== s.expectedSha256 && !unvalidated) {
      throw new ClientError(
        'CHECKSUM',
        `refusing to switch partitions: ${this.partPath(s.target)} holds sha256 ${s.writtenSha256 ?? '(incomplete)'}, artifact says ${s.expectedSha256}`,
      );
    }
    await this.flip(s.target);
  }

  // One env write: the bootloader sees the old set or the whole new set, never a half flip.
  private async flip(target: Slot): Promise<void> {
    await this.o.env.write({
      ...this.bootPartChanges(target),
      [this.o.vars.UpgradeAvailable]: '1',
      [this.o.vars.BootCount]: '0',
    });
    this.o.ctx.log(`boot env now points at slot ${target} (${this.partPath(target)}), upgrade pending`);
  }

  async needsReboot(): Promise<RebootNeed> {
    return 'automatic';
  }

  async supportsRollback(): Promise<boolean> {
    return true;
  }

  async reboot(): Promise<void> {
    if (!this.o.reboot) throw new ClientError('REBOOT', 'no reboot command configured');
    await this.o.reboot();
  }

  private async requireRunning(s: WorkState, slot: Slot, what: string): Promise<void> {
    const active = await this.o.activeSlot();
    if (active !== slot) {
      throw new ClientError(
        'NOT_EXPECTED_PARTITION',
        `${what}: running from slot ${active} (${this.partPath(active)}) but expected slot ${slot} (${this.partPath(slot)})`,
      );
    }
  }

  async verifyReboot(): Promise<void> {
    const s = await this.requireState('verify reboot');
    const active = await this.o.activeSlot();
    if (active !== s.target) {
      throw new ClientError(
        'NOT_EXPECTED_PARTITION',
        `Upgrade failed and was reverted: refusing to commit! (running slot ${active} ${this.partPath(active)}, the update is in slot ${s.target})`,
      );
    }
    const env = await this.o.env.read();
    if (env[this.o.vars.UpgradeAvailable] !== '1') {
      throw new ClientError('BOOT_ENV', `${this.o.env.describe}: ${this.o.vars.UpgradeAvailable} is not 1 after the update reboot`);
    }
  }

  async commit(): Promise<void> {
    const s = await this.requireState('commit');
    if (INJECTED_BUG === 'commit-unchecked') return this.o.env.write({ [this.o.vars.UpgradeAvailable]: '0' });
    await this.requireRunning(s, s.target, 'Upgrade failed and was reverted: refusing to commit!');
    const env = await this.o.env.read();
    // Commit may run again after a kill (Mender re-runs it): already committed is success.
    if (env[this.o.vars.UpgradeAvailable] === '0' && env[this.o.vars.BootPart] === this.partValue(s.target)) return;
    if (env[this.o.vars.BootPart] !== this.partValue(s.target)) {
      throw new ClientError('BOOT_ENV', `${this.o.env.describe}: ${this.o.vars.BootPart}=${env[this.o.vars.BootPart]} no longer points at the update`);
    }
    await this.o.env.write({ [this.o.vars.UpgradeAvailable]: '0' });
  }

  async rollback(): Promise<void> {
    const s = await this.state();
    // Killed before anything was written: the env was never touched.
    if (!s) return;
    const env = await this.o.env.read();
    if (env[this.o.vars.BootPart] === this.partValue(s.target) && INJECTED_BUG === 'rollback-keeps-boot-part') {
      await this.o.env.write({ [this.o.vars.UpgradeAvailable]: '0', [this.o.vars.BootCount]: '0' });
    } else if (env[this.o.vars.BootPart] === this.partValue(s.target)) {
      await this.o.env.write({
        ...this.bootPartChanges(s.original),
        [this.o.vars.UpgradeAvailable]: '0',
        [this.o.vars.BootCount]: '0',
      });
      this.o.ctx.log(`boot env restored to slot ${s.original} (${this.partPath(s.original)})`);
    } else if (env[this.o.vars.UpgradeAvailable] === '1') {
      await this.o.env.write({ [this.o.vars.UpgradeAvailable]: '0', [this.o.vars.BootCount]: '0' });
    } else if (this.o.env.intact && !(await this.o.env.intact())) {
      // A cut tore the flip's env write: the untouched copy still names the original slot, but
      // the torn one fails its CRC and nothing else would rewrite it (the QEMU campaign's crash
      // image 281:3). One write of the same values lands in the torn copy: redundant again.
      await this.o.env.write({ [this.o.vars.UpgradeAvailable]: '0', [this.o.vars.BootCount]: '0' });
      this.o.ctx.log(`boot env: a torn copy rewritten (${this.o.env.describe})`);
    }
  }

  /** After rollback: does the system still run the update's slot (so a reboot is needed)? */
  async rollbackNeedsReboot(): Promise<boolean> {
    const s = await this.state();
    if (!s) return false;
    return (await this.o.activeSlot()) === s.target;
  }

  async rollbackReboot(): Promise<void> {
    await this.reboot();
  }

  async verifyRollbackReboot(): Promise<void> {
    const s = await this.state();
    if (!s) return;
    await this.requireRunning(s, s.original, 'rollback reboot');
    const env = await this.o.env.read();
    if (env[this.o.vars.UpgradeAvailable] === '1') {
      throw new ClientError('BOOT_ENV', `${this.o.env.describe}: ${this.o.vars.UpgradeAvailable} is still 1 after the rollback reboot`);
    }
  }

  async failure(): Promise<void> {
    // Nothing to undo beyond rollback; the partition we wrote is inactive and harmless.
  }

  async cleanup(): Promise<void> {
    const file = join(this.o.ctx.workDir, `${STATE_KEY}.json`);
    traceOp({ op: 'unlink', path: file });
    await rm(file, { force: true });
  }
}
