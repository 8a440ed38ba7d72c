// Webhooks: iot-manager's device events (provisioned, decommissioned, status changed) posted as
// JSON to every webhook integration, signed and retried. Each event is recorded with how each
// delivery went, for GET /iot-manager/events.
//
// Deliveries go through an outbox in the store (webhook_outbox), recorded with the event in one
// transaction: the process that emitted the event holds each delivery under a lease, tries it at
// once and retries it after each wait, renewing the lease each time. If that process dies, its
// deliveries are taken over by another: under --workers N the supervisor tells the others at
// once (cluster-shared.ts); otherwise any process sharing the store takes a delivery whose lease
// ran out (its due time + leaseMs) on its next sweep, and a server on SQLite (one process) takes
// all of them when it starts. At least once: an attempt cut by a death (or a lease that ran out
// under a stalled process) is made again, so a receiver may get an event twice and should
// de-duplicate by its `id`. The outcome is recorded on the event once, by whoever ends it first.
//
// Signature: HMAC-SHA256 over the exact body bytes, keyed with the integration's secret (its hex
// digits decoded), hex-encoded in `X-Men-Signature`, with `X-Men-Algorithm: MEN-HMAC-SHA256`
// (Mender iot-manager's header names). A receiver recomputes it over the raw body.
import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FlipsideStore as Store } from '../store/api.js';
import type { IntegrationRow, WebhookOutboxRow } from '../store/store.js';

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

export interface WebhookDispatcherOptions {
  /** Waits before the 2nd, 3rd... attempt; a delivery is tried 1 + length times (default 1 s, 10 s, 60 s). */
  retryDelaysMs?: number[];
  /** This process's name on its leases, unique among the processes sharing the store (default: a random UUID). */
  owner?: string;
  /** How long a lease lasts past a delivery's due time: longer than an attempt (10 s at most). Default 60 s. */
  leaseMs?: number;
  /** How often to look for deliveries no live process holds. Default 10 s. */
  sweepMs?: number;
  log?: (msg: string, detail: object) => void;
}

/** Longest wait for a receiver's answer. */
const ATTEMPT_TIMEOUT_MS = 10_000;
/** Deliveries claimed at most per sweep. */
const SWEEP_BATCH = 100;

export class WebhookDispatcher {
  readonly owner: string;
  private readonly retryDelaysMs: number[];
  private readonly leaseMs: number;
  private readonly sweepMs: number;
  private readonly log: (msg: string, detail: object) => void;
  /** Deliveries this process is working on, by event and integration. */
  private readonly running = new Map<string, Promise<void>>();
  private sweeping: Promise<void> | undefined;
  private sweepAgain = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Ends the waits between attempts and the requests in flight when the server stops. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly store: Store,
    o: WebhookDispatcherOptions = {},
  ) {
    this.owner = o.owner ?? randomUUID();
    this.retryDelaysMs = o.retryDelaysMs ?? [1000, 10_000, 60_000];
    this.leaseMs = o.leaseMs ?? 60_000;
    this.sweepMs = o.sweepMs ?? 10_000;
    this.log = o.log ?? (() => {});
  }

  /** Takes the deliveries no live process holds, now and every sweepMs. */
  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.sweepMs);
    this.timer.unref();
    void this.sweep();
  }

  /** Records the event with a delivery per webhook and starts them in the background; returns the event id. */
  async emit(type: DeviceEventType, data: DeviceEventData): Promise<string> {
    const event = { id: randomUUID(), type, time: new Date().toISOString(), data };
    const hooks = (await this.store.integrations()).filter((i) => i.provider === 'webhook');
    if (hooks.length === 0) {
      await this.store.recordEvent(event, []);
      return event.id;
    }
    const body = JSON.stringify(event);
    const now = Date.now();
    // A stopping process leases nothing: another takes the deliveries at once.
    const closed = this.closed;
    await this.store.recordWebhookEvent(event, hooks.map((h) => h.id), body, this.owner, now, closed ? 0 : now + this.leaseMs);
    if (!closed) for (const h of hooks) this.run({ event_id: event.id, integration_id: h.id, body, attempts: 0, next_at: now });
    return event.id;
  }

  /** Takes over the deliveries of a process that died (`owner` of its leases). */
  async takeOver(owner: string): Promise<void> {
    if (this.closed) return;
    try {
      if ((await this.store.releaseWebhookLeases(owner)) > 0) await this.sweep();
    } catch (e) {
      // Not lost: the leases run out and a later sweep takes the deliveries.
      this.log('webhook leases not taken over', { owner, error: (e as Error).message });
    }
  }

  /** Claims the deliveries due within a sweep that no live process holds, and works on them. */
  sweep(): Promise<void> {
    if (this.sweeping) {
      // A takeOver's release may have come after this sweep's claim: look once more after it.
      this.sweepAgain = true;
      return this.sweeping;
    }
    this.sweeping = (async () => {
      do {
        this.sweepAgain = false;
        if (this.closed) return;
        const now = Date.now();
        const rows = await this.store.claimWebhookDeliveries(this.owner, now, now + this.sweepMs, this.leaseMs, SWEEP_BATCH);
        for (const r of rows) this.run(r);
      } while (this.sweepAgain);
    })()
      .catch((e: unknown) => this.log('webhook outbox not read', { error: (e as Error).message }))
      .finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private run(row: WebhookOutboxRow): void {
    const key = `${row.event_id} ${row.integration_id}`;
    if (this.running.has(key)) return;
    const job = this.deliver(row)
      // A store error leaves the delivery leased: another sweep takes it once the lease runs out.
      .catch((e: unknown) => this.log('webhook delivery not saved', { event_id: row.event_id, integration_id: row.integration_id, error: (e as Error).message }))
      .finally(() => this.running.delete(key));
    this.running.set(key, job);
  }

  private async deliver(row: WebhookOutboxRow): Promise<void> {
    const { event_id: eventId, integration_id: integrationId } = row;
    let { attempts, next_at: nextAt } = row;
    for (;;) {
      const wait = nextAt - Date.now();
      if (wait > 0) await sleep(wait, undefined, { signal: this.stopping.signal, ref: false }).catch(() => undefined);
      if (this.closed) return;
      // The integration as it is now: a changed secret or URL applies to the retries.
      const hook = (await this.store.integrations()).find((i) => i.id === integrationId && i.provider === 'webhook');
      const tried = hook ? await this.attempt(hook, Buffer.from(row.body)) : { delivery: { integration_id: integrationId, success: false, error: 'the integration was removed' }, final: true };
      // Cut by the server stopping: not an attempt; the delivery stays in the outbox.
      if (this.closed) return;
      attempts++;
      if (tried.final || attempts > this.retryDelaysMs.length) {
        await this.store.finishWebhookDelivery(eventId, integrationId, tried.delivery);
        return;
      }
      this.log('webhook delivery failed', { attempt: attempts, ...tried.delivery });
      nextAt = Date.now() + this.retryDelaysMs[attempts - 1]!;
      // False when the lease ran out and another process took the delivery: it is theirs now.
      if (!(await this.store.scheduleWebhookRetry(eventId, integrationId, this.owner, attempts, nextAt, nextAt + this.leaseMs))) return;
    }
  }

  /** One POST; final when it succeeded or the receiver refused this event for good. */
  private async attempt(hook: IntegrationRow, body: Buffer): Promise<{ delivery: Delivery; final: boolean }> {
    const { url, secret } = (hook.credentials as { http: { url: string; secret?: string } }).http;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'flipside-server' };
    if (secret) Object.assign(headers, { 'x-men-algorithm': 'MEN-HMAC-SHA256', 'x-men-signature': webhookSignature(secret, body) });
    try {
      const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.any([AbortSignal.timeout(ATTEMPT_TIMEOUT_MS), this.stopping.signal]) });
      await res.arrayBuffer().catch(() => undefined);
      const delivery = { integration_id: hook.id, success: res.status >= 200 && res.status < 300, status_code: res.status };
      // 4xx other than 408/429: the receiver refuses this event; trying again will not help.
      return { delivery, final: delivery.success || (res.status < 500 && res.status !== 408 && res.status !== 429) };
    } catch (e) {
      return { delivery: { integration_id: hook.id, success: false, error: (e as Error).message }, final: false };
    }
  }

  /** Resolves once every delivery this process is working on has ended or been stopped (tests, and shutdown). */
  async idle(): Promise<void> {
    while (this.running.size || this.sweeping) await Promise.all([...this.running.values(), this.sweeping]);
  }

  /** Stops retrying and aborts the requests in flight: a stopping server waits for no receiver. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.stopping.abort();
  }

  /** close(), then frees this process's leases so that another process takes the deliveries at once. */
  async stop(): Promise<void> {
    this.close();
    await this.idle();
    await this.store.releaseWebhookLeases(this.owner).catch((e: unknown) => this.log('webhook leases not freed', { error: (e as Error).message }));
  }
}
