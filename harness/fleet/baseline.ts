// The floor a poll is measured against: a bare HTTPS server in its own process, with the fleet
// server's own certificate, answering 204 to everything, probed a few times a second during the
// rollout over a fresh TLS connection each time (the device's client code path). On a shared,
// loaded machine the fleet's poll latency means little alone; its ratio to this floor says how
// much the server adds.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSecureContext, type SecureContext } from 'node:tls';
import { join } from 'node:path';
import { httpRequest } from '../../client/api/http.js';
import { Latencies } from './stats.js';

const SERVER = `
import https from 'node:https';
import { readFileSync } from 'node:fs';
const dir = process.argv[1];
const s = https.createServer({ key: readFileSync(dir + '/server.key'), cert: readFileSync(dir + '/server.crt') }, (req, res) => {
  req.resume();
  req.on('end', () => { res.statusCode = 204; res.end(); });
});
s.listen(0, '127.0.0.1', () => console.log('port ' + s.address().port));
`;

export class Baseline {
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  readonly latencies = new Latencies();
  errors = 0;

  private constructor(
    private readonly child: ChildProcess,
    private readonly url: string,
    private readonly tls: SecureContext,
  ) {}

  static async start(dataDir: string, caPem: string): Promise<Baseline> {
    const child = spawn(process.execPath, ['--input-type=module', '-e', SERVER, join(dataDir, 'tls')], { stdio: ['ignore', 'pipe', 'inherit'] });
    const orphanGuard = (): void => void child.kill('SIGKILL');
    process.once('exit', orphanGuard);
    child.once('exit', () => process.off('exit', orphanGuard));
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /port (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`baseline server exited with ${code}`)));
    });
    return new Baseline(child, `https://127.0.0.1:${port}/api/devices/v1/deployments/device/deployments/next`, createSecureContext({ ca: caPem }));
  }

  /** Probes every intervalMs until stop (at most 4 at once, so a stall is not a pile-up). */
  probe(intervalMs: number): void {
    this.timer = setInterval(() => {
      if (this.inFlight >= 4) return;
      this.inFlight++;
      const t0 = performance.now();
      httpRequest({ method: 'POST', url: this.url, headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{"artifact_name":"a","device_type":"b"}'), secureContext: this.tls, timeoutMs: 60_000 })
        .then((res) => (res.status === 204 ? this.latencies.since(t0) : this.errors++), () => this.errors++)
        .finally(() => this.inFlight--);
    }, intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return; // already gone (a signal leaves exitCode null)
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    await exited;
  }
}
