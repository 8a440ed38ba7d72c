// The console of one QEMU VM across its power cycles. Each QEMU process gets its own StreamConsole
// on its socket: the socket dies with the process, so nothing typed or awaited in one power cycle
// reaches into the next. Listeners and the line list carry on here, and every console appends to
// the same transcript file (QemuVm passes the path), so the record reads as one story.
import { RelayConsole } from '../../board/relay-console.js';
import { ConsoleClosedError } from '../../console/expect-buffer.js';
import type { StreamConsole } from '../../console/stream-console.js';
import { Transcript } from '../../console/transcript.js';
import type { ConsoleLine } from '../../types.js';

export class VmConsole extends RelayConsole {
  private readonly lines = new Transcript();
  private link: StreamConsole | null = null;
  /** Wakes the expects that the last power-off cut short. */
  private readonly interrupted = new Set<() => void>();

  constructor(name: string) {
    super(name);
    this.onLine((l) => this.lines.add(l));
  }

  /** The console of the QEMU process just started. */
  use(link: StreamConsole): void {
    for (const wake of [...this.interrupted]) wake();
    this.link = link;
    this.attach(link);
  }

  override async expect(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const wasUp = this.link?.connected ?? false;
    const deadline = Date.now() + timeoutMs;
    try {
      return await super.expect(re, timeoutMs);
    } catch (e) {
      if (!wasUp || !(e instanceof ConsoleClosedError)) throw e;
      // The VM went away under this expect: a power cut ended the command it waited for. Failing at
      // once would race whoever cut the power and is still reporting it; the failure comes with the
      // next power-on (so a shell running that command is free again for the new boot) or at the
      // expect's own deadline, and holds nothing open meanwhile: nobody may wait for it any more.
      await this.nextPowerOn(deadline);
      throw e;
    }
  }

  override transcript(): readonly ConsoleLine[] {
    return this.lines.snapshot();
  }

  private nextPowerOn(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.interrupted.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, deadline - Date.now()));
      timer.unref();
      this.interrupted.add(wake);
    });
  }
}
