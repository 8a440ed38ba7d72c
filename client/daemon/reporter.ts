// The daemon's StatusReporter: deployment statuses to the server, exactly once across power losses.
//  - What the server accepted is stored (reported.json) before the next step: after a kill, a
//    status equal to the last accepted one is not sent again (the machine re-enters a state and
//    would report it twice), and a final status (success, failure, already-installed) is sent at
//    most once per deployment.
//  - A final status that cannot be delivered is queued durably (pending-report.json) and sent by
//    flush() on every daemon cycle until the server takes it: the outcome is never lost.
//  - `failure` goes with the deployment log (PUT .../log first, as the server shows it beside the status).
//  - 409 on any report = the server aborted the deployment: DeploymentAbortedByServer, and onAborted.
//  - confirm() (the commit's `installing`) retries until its deadline and then throws.
// The remaining window: killed after the server accepted a status and before reported.json was
// written, that one status is sent again after the restart (the server ignores a repeated final).
import { appendFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ApiClient } from '../api/client.js';
import { reportStatus, uploadLog, type LogMessage, type RetryOptions } from '../api/deployments.js';
import { ApiError, DeploymentAborted, NetworkError } from '../api/errors.js';
import { errorMessage } from '../errors.js';
import { JsonStore } from '../state/store.js';
import { INJECTED_BUG } from '../injected-bug.js';
import { DeploymentAbortedByServer, type DeploymentStatus, type StatusReporter } from '../state/types.js';

export const REPORTED_KEY = 'reported';
export const PENDING_KEY = 'pending-report';
const FINAL: ReadonlySet<DeploymentStatus> = new Set(['success', 'failure', 'already-installed']);

const reportedSchema = z.object({
  id: z.string(),
  /** Statuses the server accepted, in order. */
  statuses: z.array(z.string()),
  /** The last status tried, and whether the server took it. */
  last: z.object({ status: z.string(), ok: z.boolean() }).nullable(),
});
type Reported = z.infer<typeof reportedSchema>;
const pendingSchema = z.array(z.object({ id: z.string(), status: z.enum(['success', 'failure', 'already-installed']) }));

export interface ReporterOptions {
  api: ApiClient;
  dataDir: string;
  log: (line: string) => void;
  /** Retries of one ordinary report (attempts, backoff). */
  retry?: RetryOptions;
  /** confirm(): keep trying this long (CommitStatusTimeoutSeconds). */
  confirmTimeoutMs: number;
  /** Wait between confirm() attempts. */
  confirmIntervalMs?: number;
  /** Told when the server answers 409 for a deployment. */
  onAborted?: (id: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ServerReporter implements StatusReporter {
  private readonly store: JsonStore;

  constructor(private readonly o: ReporterOptions) {
    this.store = new JsonStore(o.dataDir);
  }

  logFile(id: string): string {
    return join(this.o.dataDir, `deployment-${id}.log`);
  }

  /** Appends a line to the deployment's log (uploaded if it fails). */
  async appendLog(id: string, line: string): Promise<void> {
    const m: LogMessage = { timestamp: new Date(), level: 'info', message: line };
    await appendFile(this.logFile(id), `${JSON.stringify(m)}\n`).catch(() => undefined);
  }

  private async reported(id: string): Promise<Reported> {
    const r = await this.store.read(REPORTED_KEY, reportedSchema);
    return r && r.id === id ? r : { id, statuses: [], last: null };
  }

  private async markAttempt(id: string, status: DeploymentStatus, ok: boolean): Promise<void> {
    const r = await this.reported(id);
    await this.store.write(REPORTED_KEY, { id, statuses: ok ? [...r.statuses, status] : r.statuses, last: { status, ok } });
  }

  /**
   * True when sending `status` now would repeat what the server already has: the last status
   * tried was this one and was accepted (the machine re-entered its state after a kill), or a
   * final status was already accepted. A status that failed in between makes a repeat real news.
   */
  private async alreadySent(id: string, status: DeploymentStatus): Promise<boolean> {
    const r = await this.reported(id);
    if (r.last?.status === status && r.last.ok) return true;
    return FINAL.has(status) && r.statuses.some((s) => FINAL.has(s as DeploymentStatus));
  }

  private async send(id: string, status: DeploymentStatus, retry: RetryOptions): Promise<void> {
    try {
      if (status === 'failure') await this.uploadLog(id, retry);
      await reportStatus(this.o.api, id, status, undefined, retry);
    } catch (e) {
      await this.markAttempt(id, status, false);
      if (e instanceof DeploymentAborted) {
        this.o.onAborted?.(id);
        throw new DeploymentAbortedByServer(id);
      }
      throw e;
    }
    await this.markAttempt(id, status, true);
  }

  async status(id: string, status: DeploymentStatus): Promise<void> {
    if (await this.alreadySent(id, status)) {
      this.o.log(`status ${status} of ${id} was already accepted by the server; not sent again`);
      return;
    }
    try {
      await this.send(id, status, this.o.retry ?? {});
    } catch (e) {
      if (FINAL.has(status) && !(e instanceof DeploymentAbortedByServer)) {
        if (INJECTED_BUG === 'drop-failed-report') return this.o.log(`status ${status} of ${id} not delivered (${errorMessage(e)}); dropped`);
        await this.queue(id, status as 'success' | 'failure' | 'already-installed');
        this.o.log(`status ${status} of ${id} not delivered (${errorMessage(e)}); queued for the next cycle`);
        return;
      }
      throw e;
    }
    if (FINAL.has(status)) await this.forget(id);
  }

  /** Re-sends `downloading` during a download (not stored, not deduplicated): detects an abort early. */
  async keepAlive(id: string): Promise<void> {
    try {
      await reportStatus(this.o.api, id, 'downloading', undefined, { attempts: 1 });
    } catch (e) {
      if (e instanceof DeploymentAborted) this.o.onAborted?.(id);
      throw e;
    }
  }

  async confirm(id: string, status: DeploymentStatus): Promise<void> {
    if (await this.alreadySent(id, status)) return;
    const deadline = Date.now() + this.o.confirmTimeoutMs;
    const sleep = this.o.sleep ?? realSleep;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.send(id, status, { attempts: 1 });
        return;
      } catch (e) {
        if (e instanceof DeploymentAbortedByServer) throw e;
        const left = deadline - Date.now();
        this.o.log(`confirming ${status} of ${id} failed (attempt ${attempt}): ${errorMessage(e)}`);
        if (left <= 0) throw e;
        await sleep(Math.min(left, this.o.confirmIntervalMs ?? 5000));
      }
    }
  }

  private async queue(id: string, status: 'success' | 'failure' | 'already-installed'): Promise<void> {
    const q = (await this.store.read(PENDING_KEY, pendingSchema)) ?? [];
    if (!q.some((p) => p.id === id)) q.push({ id, status });
    await this.store.write(PENDING_KEY, q);
  }

  /** Queued final statuses not yet delivered. */
  async pending(): Promise<Array<{ id: string; status: string }>> {
    return (await this.store.read(PENDING_KEY, pendingSchema)) ?? [];
  }

  /** Sends queued final statuses; keeps what still cannot be delivered. True when the queue is empty. */
  async flush(): Promise<boolean> {
    const q = await this.pending();
    if (q.length === 0) return true;
    const left: typeof q = [];
    for (const p of q as Array<{ id: string; status: 'success' | 'failure' | 'already-installed' }>) {
      if (await this.alreadySent(p.id, p.status)) continue;
      try {
        await this.send(p.id, p.status, { attempts: 1 });
        this.o.log(`queued status ${p.status} of ${p.id} delivered`);
        await this.forget(p.id);
      } catch (e) {
        if (e instanceof DeploymentAbortedByServer) {
          this.o.log(`queued status ${p.status} of ${p.id} dropped: the deployment was aborted on the server`);
          await this.forget(p.id);
          continue;
        }
        left.push(p);
      }
    }
    if (left.length === 0) await this.store.remove(PENDING_KEY);
    else await this.store.write(PENDING_KEY, left);
    return left.length === 0;
  }

  private async forget(id: string): Promise<void> {
    await rm(this.logFile(id), { force: true });
  }

  private async uploadLog(id: string, retry: RetryOptions): Promise<void> {
    let messages: LogMessage[] = [];
    try {
      messages = (await readFile(this.logFile(id), 'utf8'))
        .split('\n')
        .filter((l) => l.trim() !== '')
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as LogMessage];
          } catch {
            return [{ timestamp: new Date(), level: 'error', message: '(CORRUPTED LOG DATA)' }];
          }
        });
    } catch {
      /* no log kept */
    }
    if (messages.length === 0) messages = [{ timestamp: new Date(), level: 'error', message: `deployment ${id} failed` }];
    try {
      await uploadLog(this.o.api, id, messages, retry);
    } catch (e) {
      if (e instanceof DeploymentAborted) throw e;
      this.o.log(`uploading the log of ${id} failed: ${errorMessage(e)}`);
      // Unreachable or overloaded: the failure waits with its log for the next try. A server that
      // refuses the log itself (4xx) still gets the outcome.
      if (e instanceof NetworkError || (e instanceof ApiError && (e.status >= 500 || e.status === 429))) throw e;
    }
  }
}
