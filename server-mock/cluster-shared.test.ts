// The supervisor's shared limits with in-memory IPC channels standing in for node:cluster's: the
// same messages, delivered asynchronously, and an 'exit' as the supervisor sees a worker die.
import test from 'ava';
import { EventEmitter } from 'node:events';
import type { Cluster, Worker } from 'node:cluster';
import { sharedPrimary, SharedLimits, type SharedChannel } from './cluster-shared.js';
import type { LoginThrottleOptions } from './auth/login-throttle.js';

const LIMITS: LoginThrottleOptions = { perAccount: 5, perSource: 20, windowSeconds: 900, lockoutSeconds: 300 };

interface FakeWorker {
  worker: Worker;
  limits: SharedLimits;
  die(): void;
}

function supervisor(opts: { perMinute?: number } = {}) {
  const cluster = Object.assign(new EventEmitter(), { workers: {} as Record<number, Worker> });
  const owners = new Map<Worker, string>();
  sharedPrimary(cluster as unknown as Cluster, { loginThrottle: LIMITS, newDevicesPerSourcePerMinute: opts.perMinute ?? 30, leaseOwnerOf: (w) => owners.get(w) });
  let nextId = 1;
  const fork = (owner: string): FakeWorker => {
    const toWorker = new EventEmitter();
    let dead = false;
    const worker = {
      id: nextId++,
      isDead: () => dead,
      isConnected: () => !dead,
      send: (m: unknown, _h: unknown, cb: () => void) => {
        setImmediate(() => toWorker.emit('message', structuredClone(m)));
        cb();
        return true;
      },
    } as unknown as Worker;
    const channel: SharedChannel = {
      send: (m, _h, _o, cb) => {
        if (dead) return setImmediate(() => cb(new Error('channel closed')));
        setImmediate(() => {
          cluster.emit('message', worker, structuredClone(m));
          cb(null);
        });
      },
      on: (e, fn) => toWorker.on(e, fn),
      off: (e, fn) => toWorker.off(e, fn),
    };
    cluster.workers[worker.id] = worker;
    owners.set(worker, owner);
    return {
      worker,
      limits: new SharedLimits(channel),
      die: () => {
        dead = true;
        delete cluster.workers[worker.id];
        cluster.emit('exit', worker, null, 'SIGKILL');
      },
    };
  };
  return { fork };
}

test('wrong logins spread over two workers lock the account at the single-process limit, once', async (t) => {
  const s = supervisor();
  const workers = [s.fork('a'), s.fork('b')];
  const lockouts = [];
  for (let i = 0; i < LIMITS.perAccount; i++) {
    const w = workers[i % 2]!;
    const a = await w.limits.begin('Admin@example.com', `10.0.0.${i}`);
    if (!a.ok) return t.fail(`attempt ${i + 1} refused: ${JSON.stringify(a)}`);
    lockouts.push(...(await a.end(false)));
  }
  t.deepEqual(lockouts, [{ scope: 'account', key: 'admin@example.com', failures: LIMITS.perAccount, seconds: LIMITS.lockoutSeconds }]);
  for (const w of workers) t.like(await w.limits.begin('admin@example.com', '10.0.1.1'), { ok: false, reason: 'locked', scope: 'account' });
});

test('a dead worker\'s logins in flight are released, and counted as nothing', async (t) => {
  const s = supervisor();
  const [a, b] = [s.fork('a'), s.fork('b')];
  for (let i = 0; i < LIMITS.perAccount; i++) t.true((await a.limits.begin('x@example.com', `10.0.0.${i}`)).ok);
  t.like(await b.limits.begin('x@example.com', '10.0.0.9'), { ok: false, reason: 'busy', scope: 'account' }, 'worker a holds every slot');
  a.die();
  // Five checks fit again, and four failures among them lock nothing: the dead ones never ended.
  const held = [];
  for (let i = 0; i < LIMITS.perAccount; i++) held.push(await b.limits.begin('x@example.com', `10.0.1.${i}`));
  t.true(held.every((h) => h.ok));
  for (const h of held.slice(0, LIMITS.perAccount - 1)) if (h.ok) t.deepEqual(await h.end(false), []);
});

test('new devices per source: two workers let in the limit of one between them', async (t) => {
  const s = supervisor({ perMinute: 3 });
  const [a, b] = [s.fork('a'), s.fork('b')];
  const waits = [await a.limits.take('10.1.1.1'), await b.limits.take('10.1.1.1'), await a.limits.take('10.1.1.1'), await b.limits.take('10.1.1.1')];
  t.deepEqual(waits.slice(0, 3), [0, 0, 0]);
  t.true(waits[3]! > 0 && waits[3]! <= 60, String(waits[3]));
  t.is(await a.limits.take('10.1.1.2'), 0, 'another source has its own count');
});

test('a worker\'s death is told to the others with its lease owner; a dead channel refuses questions', async (t) => {
  const s = supervisor();
  const [a, b, c] = [s.fork('owner-a'), s.fork('owner-b'), s.fork('owner-c')];
  const heard = { a: [] as string[], b: [] as string[], c: [] as string[] };
  const told = new Promise<void>((r) => b.limits.onWorkerGone((o) => (heard.b.push(o), r())));
  a.limits.onWorkerGone((o) => heard.a.push(o));
  c.limits.onWorkerGone((o) => heard.c.push(o));
  a.die();
  await told;
  // c's notice was sent in the same turn as b's; one more round trip makes sure it arrived.
  await c.limits.take('10.2.2.2');
  t.deepEqual(heard, { a: [], b: ['owner-a'], c: ['owner-a'] });
  await t.throwsAsync(a.limits.begin('x@example.com', '10.0.0.1'), { message: /this worker is stopping/ });
});
