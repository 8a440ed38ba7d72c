import test from 'ava';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.js';
import { recordCheckIn } from './check-in.js';

function fakes(checkIn: (id: string) => Promise<void>) {
  const warnings: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const ctx = { store: { checkIn } } as unknown as ServerContext;
  const req = { log: { warn: (obj: Record<string, unknown>, msg: string) => warnings.push({ obj, msg }) } } as unknown as FastifyRequest;
  return { ctx, req, warnings };
}

test('the answer does not wait for the check-in to be stored', (t) => {
  const asked: string[] = [];
  const { ctx, req, warnings } = fakes((id) => {
    asked.push(id);
    return new Promise(() => {}); // a statement still on its way to the database
  });
  t.is(recordCheckIn(ctx, req, 'dev-1'), undefined);
  t.deepEqual(asked, ['dev-1'], 'asked for at once, before the request answers');
  t.deepEqual(warnings, []);
});

test('a check-in that cannot be stored is logged, not thrown or left unhandled', async (t) => {
  const { ctx, req, warnings } = fakes(() => Promise.reject(new Error('connection reset')));
  recordCheckIn(ctx, req, 'dev-2');
  await new Promise((resolve) => setImmediate(resolve));
  t.is(warnings.length, 1);
  t.is(warnings[0]!.msg, 'check-in time not stored');
  t.is(warnings[0]!.obj.device_id, 'dev-2');
  t.is((warnings[0]!.obj.err as Error).message, 'connection reset');
});
