// What a change of a device's status tells iot-manager: the webhook events (provisioned when the
// device becomes accepted, status changed, decommissioned once it is gone) and iot-manager's own
// record of provisioned devices. Every path that changes a status calls it after the change: the
// management API (accept, reject, dismiss, decommission) and a preauthorized device's first
// authentication.
import type { ServerContext } from '../context.js';
import type { DeviceRow } from '../store/store.js';

export async function deviceStatusChanged(ctx: ServerContext, before: DeviceRow, after: DeviceRow | undefined): Promise<void> {
  if (!after) {
    await ctx.webhooks.emit('device-decommissioned', { id: before.id });
    return;
  }
  if (after.status === before.status) return;
  if (after.status === 'accepted') {
    await ctx.store.provisionIotDevice(after.id);
    await ctx.webhooks.emit('device-provisioned', { id: after.id, status: after.status, created_ts: after.created_ts });
  }
  await ctx.webhooks.emit('device-status-changed', { id: after.id, status: after.status, created_ts: after.created_ts });
}
