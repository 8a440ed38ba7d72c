// The reference server as its own process (as a user runs it), so the fleet run can read its RSS
// and CPU from /proc and the devices' load and the server's work do not share one event loop.
// Its log goes to a file in the data dir (counted: logging volume is part of the server's cost).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVER_BIN = join(REPO_ROOT, 'bin/flipside-server.js');
const CLOCK_TICKS = 100; // USER_HZ on Linux

export interface ServerSample {
  /** user + system CPU seconds since the process started. */
  cpuSeconds: number;
  rssBytes: number;
}

/** CPU and RSS of a process from /proc (Linux). */
export function sampleProcess(pid: number): ServerSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds, rssBytes: rss ? Number(rss[1]) * 1024 : 0 };
}

export interface ServerProcessOptions {
  dataDir: string;
  admin: { email: string; password: string };
  logLevel?: string;
  /** Write a V8 CPU profile of the server into this folder when it stops. */
  cpuProfDir?: string;
  /** A PostgreSQL database instead of SQLite in the data dir (--database). */
  database?: string;
  /** Server processes (--workers; more than 1 needs `database`). */
  workers?: number;
  /** PostgreSQL connections per server process (--database-pool). */
  databasePool?: number;
  /** More node flags for the server (`--trace-gc`: its GC lines go to the log with the rest). */
  nodeArgs?: string[];
}

export class ServerProcess {
  private peakRss = 0;
  private sampler: NodeJS.Timeout | null = null;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly caPem: string,
    readonly logPath: string,
  ) {}

  static async start(o: ServerProcessOptions): Promise<ServerProcess> {
    mkdirSync(o.dataDir, { recursive: true });
    const db = o.database ? ['--database', o.database, ...(o.databasePool ? ['--database-pool', String(o.databasePool)] : [])] : [];
    const init = spawnSync(process.execPath, [SERVER_BIN, 'init', '--data-dir', o.dataDir, ...db, '--admin-email', o.admin.email, '--admin-password', o.admin.password], { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`flipside-server init failed (${init.status}): ${init.stderr || init.stdout}`);
    const logPath = join(o.dataDir, 'server.log');
    const logFd = openSync(logPath, 'a');
    const node = [...(o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : []), ...(o.nodeArgs ?? [])];
    const child = spawn(process.execPath, [...node, SERVER_BIN, '--data-dir', o.dataDir, ...db, ...(o.workers ? ['--workers', String(o.workers)] : []), '--host', '127.0.0.1', '--port', '0', '--log-level', o.logLevel ?? 'info'], {
      stdio: ['ignore', logFd, 'pipe'],
    });
    closeSync(logFd);
    // If this process dies without stop() (a test runner's timeout), the server goes with it.
    const orphanGuard = (): void => void child.kill('SIGKILL');
    process.once('exit', orphanGuard);
    child.once('exit', () => process.off('exit', orphanGuard));
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    // The listening line goes to stdout, which is the log file: read it from there.
    const line = await new Promise<string>((resolve, reject) => {
      const deadline = Date.now() + 60_000;
      const look = (): void => {
        const m = /flipside-server listening on (\S+) ca=(\S+)/.exec(readFileSync(logPath, 'utf8'));
        if (m) return resolve(m[0]);
        if (child.exitCode !== null) return reject(new Error(`flipside-server exited with ${child.exitCode}: ${stderr}`));
        if (Date.now() > deadline) return reject(new Error(`flipside-server did not start within 60 s: ${stderr}`));
        setTimeout(look, 50);
      };
      look();
    });
    const [, address, caPath] = /listening on (\S+) ca=(\S+)/.exec(line)!;
    const server = new ServerProcess(child, address!.replace('0.0.0.0', '127.0.0.1'), readFileSync(caPath!, 'utf8'), logPath);
    const sampler = setInterval(() => server.sample(), 500);
    sampler.unref();
    server.sampler = sampler;
    child.once('exit', () => clearInterval(sampler));
    return server;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The worker processes under --workers (the supervisor's children), from /proc. */
  workerPids(): number[] {
    try {
      return readFileSync(`/proc/${this.pid}/task/${this.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** The current sample; also keeps the peak RSS. A server that died keeps its last sample. */
  sample(): ServerSample {
    try {
      // Under --workers the supervisor's workers do the serving: their CPU and RSS count too.
      const parts = [sampleProcess(this.pid), ...this.workerPids().flatMap((p) => {
        try {
          return [sampleProcess(p)];
        } catch {
          return []; // a worker that just died
        }
      })];
      this.last = { cpuSeconds: parts.reduce((a, x) => a + x.cpuSeconds, 0), rssBytes: parts.reduce((a, x) => a + x.rssBytes, 0) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      return this.last;
    }
    this.peakRss = Math.max(this.peakRss, this.last.rssBytes);
    return this.last;
  }
  private last: ServerSample = { cpuSeconds: 0, rssBytes: 0 };

  get peakRssBytes(): number {
    return this.peakRss;
  }

  /**
   * The server's event-loop delay windows (server-mock/loop-delay.ts) logged at or after sinceMs
   * (epoch ms), from every process (--workers: each worker logs its own): the largest and the
   * windows whose max was over overMs, oldest first.
   */
  async loopDelay(sinceMs: number, overMs = 200): Promise<{ maxMs: number; stalls: Array<{ time: string; maxMs: number; worker?: number }> }> {
    let maxMs = 0;
    const stalls: Array<{ time: string; maxMs: number; worker?: number }> = [];
    const lines = createInterface({ input: createReadStream(this.logPath, 'utf8'), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line.includes('"event loop delay"')) continue;
      let w: { time: number; max_ms: number; worker?: number };
      try {
        w = JSON.parse(line) as typeof w;
      } catch {
        continue; // a line another write cut into (the listening line goes to the same file)
      }
      if (w.time < sinceMs) continue;
      maxMs = Math.max(maxMs, w.max_ms);
      if (w.max_ms > overMs) stalls.push({ time: new Date(w.time).toISOString().slice(11, 19), maxMs: w.max_ms, ...(w.worker ? { worker: w.worker } : {}) });
    }
    return { maxMs, stalls };
  }

  get logBytes(): number {
    return statSync(this.logPath).size;
  }

  /** SIGTERM and wait (the server closes cleanly, which also writes a CPU profile). */
  async stop(): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return; // already gone (a signal leaves exitCode null)
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}
