// One builder at a time for a shared cache entry across processes (the QEMU scenario suite and a
// crash-image campaign started beside it in CI, or ava's test files): the second waits for the
// first and then finds its output cached, instead of building the same images again on the same
// cores. The lock is a file holding its owner's pid, created whole by link(2) (atomic, fails when
// the file exists); a lock whose owner has died is taken over.
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pidAlive } from '../../qemu/image/exec.js';

export interface LockOptions {
  /** Told once when the lock is held by another live process. */
  onWait?: (holderPid: number) => void;
  /** How often a waiter looks again (ms). */
  pollMs?: number;
}

/** The pid in a lock file, or null when the file is gone or not a lock. */
function holderOf(lock: string): number | null {
  try {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Takes the lock if it is free or its owner is dead; true when this process holds it now. */
export function tryLock(lock: string): boolean {
  mkdirSync(dirname(lock), { recursive: true });
  const tmp = `${lock}.${process.pid}`;
  writeFileSync(tmp, `${process.pid}\n`);
  try {
    for (;;) {
      try {
        linkSync(tmp, lock);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = holderOf(lock);
      // Our own pid there is a dead process's lock with a reused pid: callers here queue in withLock.
      if (holder !== null && holder !== process.pid && pidAlive(holder)) return false;
      // Its owner died without removing it (or it vanished meanwhile): remove it and try again.
      // Two processes may both see it stale; only one link succeeds after the removal. Reading the
      // holder again just before removing narrows (not closes) the window in which one removes the
      // lock the other has just taken: only after a crashed owner, and at worst one build twice.
      if (holderOf(lock) === holder) rmSync(lock, { force: true });
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}

export function unlock(lock: string): void {
  if (holderOf(lock) === process.pid) rmSync(lock, { force: true });
}

// In this process, callers of one lock queue here first (the file cannot tell them apart).
const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` holding `lock`, waiting while another caller or live process holds it (not re-entrant). */
export async function withLock<T>(lock: string, fn: () => Promise<T>, o: LockOptions = {}): Promise<T> {
  const before = queues.get(lock) ?? Promise.resolve();
  const mine = before.catch(() => undefined).then(() => holdFileLock(lock, fn, o));
  const tail = mine.catch(() => undefined);
  queues.set(lock, tail);
  try {
    return await mine;
  } finally {
    if (queues.get(lock) === tail) queues.delete(lock);
  }
}

async function holdFileLock<T>(lock: string, fn: () => Promise<T>, o: LockOptions): Promise<T> {
  let told = false;
  while (!tryLock(lock)) {
    const holder = holderOf(lock);
    if (!told && holder !== null) {
      o.onWait?.(holder);
      told = true;
    }
    await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
  }
  try {
    return await fn();
  } finally {
    unlock(lock);
  }
}
