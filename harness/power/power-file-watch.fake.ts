// The far end of a fake bench's `command` power driver (touch / rm of a file): the bench notices the
// file come and go and runs its switch, one change after another, never two at once.
import { existsSync } from 'node:fs';

export class PowerFileWatch {
  private readonly poll: NodeJS.Timeout;
  private busy: Promise<void> = Promise.resolve();

  constructor(readonly file: string, switchTo: (on: boolean) => Promise<void>) {
    let on = false;
    this.poll = setInterval(() => {
      const now = existsSync(file);
      if (now === on) return;
      on = now;
      this.busy = this.busy.then(() => switchTo(now)).catch(() => undefined);
    }, 10);
  }

  /** Resolves once every change seen so far has been switched. */
  settled(): Promise<void> {
    return this.busy;
  }

  /** Stops watching; resolves once the switch in progress, if any, is done. */
  async stop(): Promise<void> {
    clearInterval(this.poll);
    await this.busy;
  }
}
