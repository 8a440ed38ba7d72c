// The Download state, as Mender 4 runs it (update_module_download.cpp). The module is started
// once for the whole payload, with `stream-next` created as a FIFO. Then either:
//  - streaming: the module opens `stream-next`; for each payload file we create the FIFO
//    `streams/<name>`, write one line `streams/<name>` (`streams/<name> <size>` for
//    DownloadWithFileSizes) to `stream-next` and close it, then feed the file into the FIFO.
//    After the last file, `stream-next` is opened once more and closed without data: the empty
//    read is the end marker. The module must then exit 0. Exiting before the end marker is an
//    error even with status 0 ("started downloading, but did not finish").
//  - files: the module exits 0 without ever opening `stream-next`; we delete `stream-next` and
//    `streams/` and store each file under `files/<name>` (fsynced), for ArtifactInstall.
import { mkdir, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { PayloadEntry } from '../../../artifact/types.js';
import { writeStreamSynced } from '../../durable.js';
import { ModuleError, type ModuleState } from './errors.js';
import { makeFifo, openFifoWriter, pipeIntoFifo, writeAndClose } from './fifo.js';
import { checkExit, ModuleProcess, type ModuleExit } from './module-process.js';

export interface DownloadOptions {
  modulePath: string;
  treeDir: string;
  withSizes: boolean;
  timeoutMs: number;
  log: (line: string) => void;
  env?: Record<string, string>;
}

type Mode = 'undecided' | 'streaming' | 'files' | 'done' | 'failed';

/** A payload file name must be a single path component: it becomes `streams/<name>`. */
function checkName(state: ModuleState, name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || name.includes('\n')) {
    throw new ModuleError('STREAM', state, `payload file name ${JSON.stringify(name)} cannot be passed to an update module`);
  }
}

export class DownloadSession {
  private mode: Mode = 'undecided';
  private exit: ModuleExit | undefined;
  private readonly state: ModuleState;
  /** stream-next as opened by decide(), still waiting for its first line. */
  private openNext: Socket | undefined;

  private constructor(
    private readonly opts: DownloadOptions,
    private readonly proc: ModuleProcess,
  ) {
    this.state = opts.withSizes ? 'DownloadWithFileSizes' : 'Download';
    void proc.exited.then((e) => {
      this.exit = e;
    });
  }

  static async start(opts: DownloadOptions): Promise<DownloadSession> {
    const state: ModuleState = opts.withSizes ? 'DownloadWithFileSizes' : 'Download';
    try {
      await rm(join(opts.treeDir, 'stream-next'), { force: true });
      await rm(join(opts.treeDir, 'streams'), { recursive: true, force: true });
      await mkdir(join(opts.treeDir, 'streams'));
      await makeFifo(join(opts.treeDir, 'stream-next'));
    } catch (e) {
      throw new ModuleError('IO', state, `cannot create stream-next in ${opts.treeDir}: ${(e as Error).message}`, { cause: e });
    }
    const proc = await ModuleProcess.start({ ...opts, state, capture: false });
    return new DownloadSession(opts, proc);
  }

  /** Kills the module (process group) and waits for it; used when the download is abandoned. */
  async abort(): Promise<void> {
    if (this.mode !== 'done') this.mode = 'failed';
    this.openNext?.destroy();
    this.proc.kill();
    await this.proc.exited;
  }

  async storeFile(entry: PayloadEntry, stream: Readable): Promise<void> {
    await this.guard(async () => {
      checkName(this.state, entry.name);
      if (this.mode === 'undecided') await this.decide();
      if (this.mode === 'files') {
        const dir = join(this.opts.treeDir, 'files');
        await writeStreamSynced(join(dir, entry.name), stream).catch((e: Error) => {
          throw new ModuleError('IO', this.state, `cannot store ${entry.name} under ${dir}: ${e.message}`, { cause: e });
        });
      } else {
        await this.streamFile(entry, stream);
      }
    });
  }

  /** After the last file: sends the end marker (streaming) and waits for the module to exit 0. */
  async finish(): Promise<'streamed' | 'files'> {
    return this.guard(async () => {
      if (this.mode === 'undecided') await this.decide();
      if (this.mode === 'streaming') {
        const next = await this.openWriter('stream-next');
        await writeAndClose(next, '');
        const exit = await this.proc.exited;
        checkExit(this.state, this.opts.modulePath, exit, this.opts.timeoutMs);
        this.mode = 'done';
        return 'streamed';
      }
      this.mode = 'done';
      return 'files';
    });
  }

  private async guard<T>(body: () => Promise<T>): Promise<T> {
    if (this.mode === 'failed' || this.mode === 'done') {
      throw new ModuleError('STREAM', this.state, `the ${this.state} session is already ${this.mode === 'done' ? 'finished' : 'aborted'}`);
    }
    try {
      return await body();
    } catch (e) {
      this.mode = 'failed';
      this.openNext?.destroy();
      this.proc.kill();
      await this.proc.exited;
      throw e;
    }
  }

  /** Waits until the module opens stream-next (streaming) or exits without opening it (files). */
  private async decide(): Promise<void> {
    const next = await openFifoWriter(join(this.opts.treeDir, 'stream-next'), () => this.exit !== undefined);
    if (next) {
      // The module is blocked reading stream-next: this open is the one the first line (or, for
      // a payload without files, the end marker) goes through. Closing it unwritten would read
      // as the end marker.
      this.openNext = next;
      this.mode = 'streaming';
      return;
    }
    const exit = this.exit!;
    checkExit(this.state, this.opts.modulePath, exit, this.opts.timeoutMs);
    this.mode = 'files';
    await rm(join(this.opts.treeDir, 'stream-next'), { force: true });
    await rm(join(this.opts.treeDir, 'streams'), { recursive: true, force: true });
  }

  private async openWriter(rel: string): Promise<Socket> {
    if (rel === 'stream-next' && this.openNext) {
      const sock = this.openNext;
      this.openNext = undefined;
      return sock;
    }
    const sock = await openFifoWriter(join(this.opts.treeDir, rel), () => this.exit !== undefined);
    if (sock) return sock;
    const exit = this.exit!;
    checkExit(this.state, this.opts.modulePath, exit, this.opts.timeoutMs);
    throw new ModuleError('STREAM', this.state, `${this.opts.modulePath} started downloading, but exited before the end of the stream`, {
      exitCode: exit.code,
      stderrTail: exit.stderrTail,
    });
  }

  private async streamFile(entry: PayloadEntry, stream: Readable): Promise<void> {
    const rel = `streams/${entry.name}`;
    await makeFifo(join(this.opts.treeDir, rel)).catch((e: Error) => {
      throw new ModuleError('IO', this.state, `cannot create the FIFO ${rel}: ${e.message}`, { cause: e });
    });
    const next = await this.openWriter('stream-next');
    await writeAndClose(next, this.opts.withSizes ? `${rel} ${entry.size}\n` : `${rel}\n`);
    const sock = await this.openWriter(rel);
    try {
      await pipeIntoFifo(stream, sock);
    } catch (e) {
      // Give a module that died with an error status the chance to explain itself.
      const exit = await Promise.race([this.proc.exited, new Promise<undefined>((r) => setTimeout(r, 200, undefined))]);
      if (exit) checkExit(this.state, this.opts.modulePath, exit, this.opts.timeoutMs);
      throw new ModuleError('STREAM', this.state, `${this.opts.modulePath} stopped reading ${rel}: ${(e as Error).message}`, {
        cause: e,
        exitCode: exit?.code ?? null,
        stderrTail: exit?.stderrTail ?? '',
      });
    }
  }
}
