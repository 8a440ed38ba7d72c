// What a change of a device's status tells iot-manager: the webhook events (provisioned when the
// device becomes accepted, status changed, decommissioned once it is gone) and iot-manager's own
// record of provisioned devices. Every path that changes a status calls it after the change: the
// management API (accept, reject, dismiss, decommission) and a preauthorized device's first
// authentication. A device that is gone also loses its deviceconnect link and recordings.
import type { ServerContext } from '../context.js';
import type { DeviceRow } from '../store/store.js';

export async function deviceStatusChanged(ctx: ServerContext, before: DeviceRow, after: DeviceRow | undefined): Promise<void> {
  if (!after) {
    // deviceconnect: its connection ends and its terminal recordings go with the device.
    ctx.connect.link(before.id)?.close(4001, 'the device was decommissioned');
    await ctx.store.deleteRecordingsOf(before.id);
    await ctx.webhooks.emit('device-decommissioned', { id: before.id });
    return;
  }
  if (after.status === before.status) return;
  if (after.status === 'accepted') {
    await ctx.store.provisionIotDevice(after.id);
    // Mender's provisioning event carries the whole device: its auth sets with identity and key.
    const identity = JSON.parse(after.id_data) as Record<string, unknown>;
    const authSets = (await ctx.store.authSets(after.id)).map((a) => ({ id: a.id, device_id: a.device_id, identity_data: identity, pubkey: a.pubkey, status: a.status, ts: a.ts }));
    await ctx.webhooks.emit('device-provisioned', { id: after.id, status: after.status, auth_sets: authSets, created_ts: after.created_ts });
  }
  await ctx.webhooks.emit('device-status-changed', { id: after.id, status: after.status, created_ts: after.created_ts });
}
