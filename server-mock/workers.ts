// `flipside-server --workers N`: a supervisor process and N server processes sharing one listening
// port (node:cluster: the supervisor accepts and hands connections round-robin to the workers).
// The supervisor does the start-up work that must happen once (TLS files, keys, schema migrations,
// removing blobs without a row, emptying tmp/) before any worker starts, so two workers never race
// on it; it then restarts a worker that dies, relays deviceconnect traffic between workers
// (deviceconnect/cluster-relay.ts), holds the login throttle and the admission rate for all of
// them and tells them when one dies so they take over its webhook deliveries (cluster-shared.ts),
// and, on SIGTERM or SIGINT, stops every worker cleanly.
// Every piece of state that matters lives in PostgreSQL or in this supervisor; server-mock's
// README ("Several processes") lists what is still per process and why that is safe.
import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { relayPrimary } from './deviceconnect/cluster-relay.js';
import { sharedPrimary } from './cluster-shared.js';
import { DEFAULT_LOGIN_THROTTLE } from './auth/login-throttle.js';
import { DEFAULT_DEVICE_ADMISSION } from './device/admission.js';

/** Why several processes need PostgreSQL: said by the CLI when --workers N comes without it. */
export const WORKERS_NEED_POSTGRES =
  '--workers N (N > 1) needs --database postgres://…: the SQLite store commits in groups inside one process and its change counter (live UI updates) sees only that process, so several processes on one SQLite file would wait on its lock and miss each other\'s changes';

/** A worker that dies within this long of its start counts as a crash loop: the restart waits. */
const EARLY_DEATH_MS = 10_000;
const MAX_RESTART_DELAY_MS = 30_000;
/** How long a worker gets to close its connections on SIGTERM before it is killed. */
const STOP_GRACE_MS = 30_000;

export interface SupervisorOptions {
  workers: number;
  /** One line per event, to stderr in the CLI (the workers log their own requests). */
  log: (line: string) => void;
  /** Called once every worker listens (the first time), with the address. */
  onListening: (address: string) => void;
}

/** Runs in the primary until SIGTERM/SIGINT; resolves with the exit code. */
export async function superviseWorkers(o: SupervisorOptions): Promise<number> {
  // 'advanced' so deviceconnect frames (binary bodies) cross the IPC channel as they are.
  cluster.setupPrimary({ serialization: 'advanced' });
  relayPrimary(cluster);
  // Each worker's webhook lease owner, a fresh one per process: told to the others when it exits.
  const leaseOwner = new WeakMap<Worker, string>();
  sharedPrimary(cluster, { loginThrottle: DEFAULT_LOGIN_THROTTLE, newDevicesPerSourcePerMinute: DEFAULT_DEVICE_ADMISSION.newPerSourcePerMinute, leaseOwnerOf: (w) => leaseOwner.get(w) });
  let stopping = false;
  const started = new Map<Worker, number>();
  const slotOf = new Map<Worker, number>();
  const restartDelay = new Map<number, number>();
  const listening = new Set<number>();
  let announced = false;

  const fork = (slot: number): void => {
    const owner = randomUUID();
    const w = cluster.fork({ FLIPSIDE_WORKER_SLOT: String(slot), FLIPSIDE_LEASE_OWNER: owner });
    leaseOwner.set(w, owner);
    started.set(w, Date.now());
    slotOf.set(w, slot);
    w.on('listening', (addr) => {
      listening.add(slot);
      o.log(`worker ${slot} (pid ${w.process.pid}) listening`);
      if (!announced && listening.size === o.workers) {
        announced = true;
        const host = addr.address ?? '0.0.0.0';
        o.onListening(`${addr.addressType === 6 ? `[${host}]` : host}:${addr.port}`);
      }
    });
  };

  cluster.on('exit', (w, code, signal) => {
    const slot = slotOf.get(w)!;
    const lived = Date.now() - (started.get(w) ?? 0);
    started.delete(w);
    slotOf.delete(w);
    if (stopping) return;
    // A worker that dies before it listened once (a bad database URL, a port in use) would die
    // again: the supervisor stops instead of looping.
    if (!announced && !listening.has(slot)) {
      o.log(`worker ${slot} (pid ${w.process.pid}) exited before listening (${signal ?? `code ${code}`}); stopping`);
      void stop(1);
      return;
    }
    const delay = lived < EARLY_DEATH_MS ? Math.min(MAX_RESTART_DELAY_MS, (restartDelay.get(slot) ?? 500) * 2) : 0;
    restartDelay.set(slot, delay || 500);
    o.log(`worker ${slot} (pid ${w.process.pid}) died (${signal ?? `code ${code}`}); starting a new one${delay ? ` in ${delay} ms` : ''}`);
    setTimeout(() => !stopping && fork(slot), delay).unref();
  });

  let exitCode = 0;
  let finished!: () => void;
  const done = new Promise<void>((r) => (finished = r));
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
    await Promise.all(
      alive.map(
        (w) =>
          new Promise<void>((r) => {
            const kill = setTimeout(() => w.process.kill('SIGKILL'), STOP_GRACE_MS);
            w.once('exit', () => {
              clearTimeout(kill);
              r();
            });
            w.process.kill('SIGTERM');
          }),
      ),
    );
    finished();
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      o.log(`${sig}: stopping ${o.workers} workers`);
      void stop(0);
    });
  }
  for (let slot = 1; slot <= o.workers; slot++) fork(slot);
  await done;
  return exitCode;
}

/** This process's worker slot (1..N) under --workers, or undefined in a single-process server. */
export function workerSlot(): number | undefined {
  if (cluster.isPrimary) return undefined;
  const n = Number(process.env.FLIPSIDE_WORKER_SLOT);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** The name this worker's webhook leases carry, given by the supervisor (a fresh one outside it). */
export function workerLeaseOwner(): string {
  return process.env.FLIPSIDE_LEASE_OWNER || randomUUID();
}
