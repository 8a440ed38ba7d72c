// Webhooks: iot-manager's device events (provisioned, decommissioned, status changed) posted as
// JSON to every webhook integration, signed and retried. Each event is recorded with how each
// delivery went, for GET /iot-manager/events.
//
// Signature: HMAC-SHA256 over the exact body bytes, keyed with the integration's secret (its hex
// digits decoded), hex-encoded in `X-Men-Signature`, with `X-Men-Algorithm: MEN-HMAC-SHA256`
// (Mender iot-manager's header names). A receiver recomputes it over the raw body.
import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FlipsideStore as Store } from '../store/api.js';

export type DeviceEventType = 'device-provisioned' | 'device-decommissioned' | 'device-status-changed';

/** Mender iot-manager's DeviceEvent: the id always, the status on a change, all of it on provisioning. */
export interface DeviceEventData {
  id: string;
  status?: string;
  auth_sets?: Array<{ id: string; device_id: string; identity_data: Record<string, unknown>; pubkey: string; status: string; ts: string }>;
  created_ts?: string;
}

export interface Delivery {
  integration_id: string;
  success: boolean;
  status_code?: number;
  error?: string;
}

export function webhookSignature(secretHex: string, body: Buffer): string {
  return createHmac('sha256', Buffer.from(secretHex, 'hex')).update(body).digest('hex');
}

export class WebhookDispatcher {
  private readonly pending = new Set<Promise<void>>();
  private closed = false;
  /** Ends the waits between attempts and the requests in flight when the server stops. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly store: Store,
    /** Waits before the 2nd, 3rd... attempt; a delivery is tried 1 + length times. */
    private readonly retryDelaysMs: number[] = [1000, 10_000, 60_000],
    private readonly log: (msg: string, detail: object) => void = () => {},
  ) {}

  /** Records the event and posts it to every webhook in the background; returns the event id. */
  async emit(type: DeviceEventType, data: DeviceEventData): Promise<string> {
    const event = { id: randomUUID(), type, time: new Date().toISOString(), data };
    const hooks = (await this.store.integrations()).filter((i) => i.provider === 'webhook');
    await this.store.recordEvent(event, []);
    if (this.closed || hooks.length === 0) return event.id;
    const body = Buffer.from(JSON.stringify(event));
    const job = Promise.all(
      hooks.map(async (hook) => {
        const { url, secret } = (hook.credentials as { http: { url: string; secret?: string } }).http;
        const delivery = await this.deliver(hook.id, url, secret, body);
        await this.store.addEventDelivery(event.id, delivery);
      }),
    ).then(() => undefined);
    this.pending.add(job);
    void job.finally(() => this.pending.delete(job));
    return event.id;
  }

  private async deliver(integrationId: string, url: string, secret: string | undefined, body: Buffer): Promise<Delivery> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'flipside-server' };
    if (secret) Object.assign(headers, { 'x-men-algorithm': 'MEN-HMAC-SHA256', 'x-men-signature': webhookSignature(secret, body) });
    let last: Delivery = { integration_id: integrationId, success: false, error: 'not sent' };
    for (let attempt = 0; attempt <= this.retryDelaysMs.length && !this.closed; attempt++) {
      if (attempt > 0) await sleep(this.retryDelaysMs[attempt - 1], undefined, { signal: this.stopping.signal, ref: false }).catch(() => undefined);
      if (this.closed) break;
      try {
        const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.any([AbortSignal.timeout(10_000), this.stopping.signal]) });
        await res.arrayBuffer().catch(() => undefined);
        last = { integration_id: integrationId, success: res.status >= 200 && res.status < 300, status_code: res.status };
        if (last.success) return last;
        // 4xx other than 408/429: the receiver refuses this event; trying again will not help.
        if (res.status < 500 && res.status !== 408 && res.status !== 429) return last;
      } catch (e) {
        last = { integration_id: integrationId, success: false, error: (e as Error).message };
      }
      this.log("webhook delivery failed", { attempt: attempt + 1, ...last });
    }
    return last;
  }

  /** Resolves once every delivery started so far has ended (tests, and shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  /** Stops retrying and aborts the requests in flight: a stopping server waits for no receiver. */
  close(): void {
    this.closed = true;
    this.stopping.abort();
  }
}
