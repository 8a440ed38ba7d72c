// A device's check-in time ("last seen" in the UI, Mender's check_in_time) is a hint: the
// request that moves it does not wait for it to be stored. On PostgreSQL the check-ins of many
// requests share one statement (store/postgres.ts), and waiting for it put up to two round trips
// and a turn of the event loop into every poll, auth and inventory answer: at 10,000 devices that
// was most of a poll's tail (README, Scaling). The store's own reads of it wait for what this
// process queued, so the management API still shows the check-in of a request that has answered.
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.js';

export function recordCheckIn(ctx: ServerContext, req: FastifyRequest, deviceId: string): void {
  ctx.store.checkIn(deviceId).catch((err: unknown) => req.log.warn({ err, device_id: deviceId }, 'check-in time not stored'));
}
