// Builds the context one scenario run gets: the board's capabilities, a seeded rng, the timeline
// (every console line and client state goes on it), fault helpers wired to FaultScheduler, and
// check() that records each check as it passes or fails.
import { describeFault } from '../faults/describe.js';
import { createRng } from '../faults/prng.js';
import { FaultScheduler } from '../faults/scheduler.js';
import type { ByteCounter } from '../faults/sources.js';
import type { Timeline } from '../run/timeline.js';
import { devicePathOf, type ArtifactRole, type Board } from '../board/board.js';
import type { Fault, Network, ShellResult } from '../types.js';
import type { LabServer } from '../server/lab-server.js';
import { clientCommands } from './client.js';
import { CheckFailed, type FaultHandle, type FaultOptions, type ScenarioContext, type ScenarioDefinition, type ScenarioParams, type ScenarioVariant } from './define.js';

export interface ContextState {
  ctx: ScenarioContext;
  /** What expectFinal() asked for; null: the current version. */
  expectedFinal(): readonly string[] | null;
  /** Disarms every fault still waiting. */
  dispose(): void;
}

/** Differences from the first total seen: "bytes written since this fault was armed". */
function relative(counter: ByteCounter): ByteCounter {
  return {
    onBytes(listener) {
      let base: number | null = null;
      return counter.onBytes((total) => {
        if (base === null) base = total;
        else listener(total - base);
      });
    },
  };
}

export function createContext(opts: {
  def: ScenarioDefinition;
  board: Board;
  seed: number;
  timeline: Timeline;
  params: ScenarioParams;
  variant: ScenarioVariant | null;
  server?: LabServer | null;
}): ContextState {
  const { def, board, timeline } = opts;
  const server = opts.server ?? null;
  // With a lab server the device's link to it is the fault proxy: network faults go there.
  const network: Network | null = server ? server.proxy : (board.caps.network ?? null);
  const { caps, strategy } = board;
  const client = clientCommands(board.client);
  const schedulers = new Set<FaultScheduler>();
  let expected: readonly string[] | null = null;
  const log = (text: string) => void timeline.append({ source: 'harness', kind: 'log', text });

  // The one held cut armed (see heldPoint): `flipside` commands carry its hook until the cut lands.
  let hold: { env: string; point: string } | null = null;
  const holdStops = new Set<() => void>();
  const withHolds = (command: string): string => (hold && /^(flipside|mender)\s/.test(command) ? `${hold.env} ${command}` : command);

  const sh = async (typed: string, o: { timeoutMs?: number } = {}): Promise<ShellResult> => {
    const command = withHolds(typed);
    timeline.append({ source: 'harness', kind: 'shell', text: `$ ${command}` });
    const r = await caps.shell.run(command, o);
    timeline.append({ source: 'harness', kind: 'shell-exit', text: `exit ${r.code}: ${command}`, data: { code: r.code } });
    return r;
  };

  const inject = async (fault: Fault): Promise<void> => {
    switch (fault.kind) {
      case 'power-cut':
        await caps.power.cut();
        strategy.poweredOff();
        return;
      case 'network-drop': {
        if (!network) throw new Error(`${board.name} has no network capability`);
        await network.drop();
        if (fault.durationMs !== undefined) setTimeout(() => void network.restore().catch(() => undefined), fault.durationMs);
        return;
      }
      case 'network-shape':
        if (!network) throw new Error(`${board.name} has no network capability`);
        await network.shape(fault.shape ?? {});
        return;
      case 'server-down': {
        // The server stops answering: open connections are reset, new ones refused.
        if (!server) throw new Error(`fault server-down needs a managed scenario (needs 'server')`);
        await server.proxy.drop('refuse');
        if (fault.durationMs !== undefined) setTimeout(() => void server.proxy.restore().catch(() => undefined), fault.durationMs);
        return;
      }
      default:
        throw new Error(`fault kind ${fault.kind} is not supported by the scenario engine`);
    }
  };

  /**
   * A power cut the client itself can hold for (boards whose client honours the hold hooks): at a
   * client state, and at a payload byte where the board has no disk write counter of its own.
   */
  const heldPoint = (f: Fault): { env: string; point: string } | null => {
    if (!board.holdsForCuts || f.kind !== 'power-cut') return null;
    if (f.at.on === 'state' && (f.at.nth ?? 1) === 1) return { env: `FLIPSIDE_TEST_HOLD_AT=${f.at.state}`, point: f.at.state };
    if (f.at.on === 'bytes-written' && !board.bytesWritten) return { env: `FLIPSIDE_TEST_HOLD_AT_BYTE=${f.at.bytes}`, point: `byte ${f.at.bytes}` };
    return null;
  };

  const fault = (f: Fault, fo: FaultOptions = {}): FaultHandle => {
    let resolveInjected!: () => void;
    let rejectInjected!: (e: unknown) => void;
    const injected = new Promise<void>((res, rej) => {
      resolveInjected = res;
      rejectInjected = rej;
    });
    injected.catch(() => undefined); // observed through runUntilFault or awaited by the scenario
    let fired = false;
    const native = fo.delayMs ? null : board.armFault?.(f, () => {
      fired = true;
      strategy.poweredOff();
      timeline.append({ source: 'fault', kind: 'injected', text: `injected: ${describeFault(f)} (exact, by the board)` });
      resolveInjected();
    });
    if (native) return { fault: f, injected, hasFired: () => fired, dispose: () => native.dispose() };
    const held = fo.delayMs ? null : heldPoint(f);
    if (held) {
      if (hold) throw new Error(`a held power cut is already armed (at ${hold.point}); one at a time`);
      const mine = held;
      hold = mine;
      const stop = () => {
        if (hold === mine) hold = null;
        unsubscribe();
        holdStops.delete(stop);
      };
      holdStops.add(stop);
      const unsubscribe = caps.console.onLine((l) => {
        if (fired || /FLIPSIDE-HOLD (.+)$/.exec(l.text)?.[1]?.trim() !== mine.point) return;
        fired = true;
        stop();
        inject(f).then(() => {
          timeline.append({ source: 'fault', kind: 'injected', text: `injected: ${describeFault(f)} (exact: the client held there)` });
          resolveInjected();
        }, rejectInjected);
      });
      return { fault: f, injected, hasFired: () => fired, dispose: stop };
    }
    const scheduler: FaultScheduler = new FaultScheduler({
      faults: [f],
      timeline,
      sources: {
        console: caps.console,
        ...(board.bytesWritten ? { bytesWritten: relative(board.bytesWritten) } : {}),
        ...(server ? { bytesSent: relative(server.bytesSent), serverStatus: server.statusSource } : {}),
      },
      action: async (fault) => {
        fired = true;
        if (fo.delayMs) await new Promise((r) => setTimeout(r, fo.delayMs));
        await inject(fault);
        timeline.append({ source: 'fault', kind: 'injected', text: `injected: ${describeFault(fault)}${fo.delayMs ? ` (+${fo.delayMs} ms)` : ''}` });
      },
      onError: (e) => rejectInjected(e),
    });
    schedulers.add(scheduler);
    scheduler.arm();
    void (async () => {
      // Resolve once the action finished: settled() only covers actions already started.
      for (;;) {
        if (fired) {
          await scheduler.settled();
          resolveInjected();
          return;
        }
        if (!schedulers.has(scheduler)) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    return {
      fault: f,
      injected,
      hasFired: () => fired,
      dispose: () => {
        scheduler.dispose();
        schedulers.delete(scheduler);
      },
    };
  };

  const ctx: ScenarioContext = {
    name: def.name,
    board,
    caps,
    strategy,
    seed: opts.seed,
    rng: createRng(opts.seed),
    timeline,
    params: opts.params,
    variant: opts.variant,
    versions: board.versions,
    client,
    perClient: (values) => values[client.kind],
    get server(): LabServer {
      if (!server) throw new Error(`scenario ${def.name} uses the server but does not list 'server' in needs`);
      return server;
    },
    hostArtifact(role: ArtifactRole) {
      const p = board.artifacts[role];
      if (!p) throw new Error(`${board.name} built no '${role}' artifact`);
      return p;
    },
    artifact(role: ArtifactRole) {
      if (!def.artifacts?.includes(role)) throw new Error(`scenario ${def.name} uses artifact '${role}' but does not list it in artifacts`);
      return devicePathOf(role);
    },
    log,
    sh,
    async boot() {
      const s = strategy.state;
      if (s === 'shell' || s === 'client-ready') return;
      await strategy.transition('shell');
    },
    async reboot() {
      log('reboot');
      // `reboot -f` never returns on the console: the marker protocol would wait; send it raw.
      await caps.console.write('sync; reboot -f\n');
      await strategy.followBoot('shell');
    },
    async powerCut() {
      await inject({ kind: 'power-cut', at: { on: 'time', ms: 0 } });
      timeline.append({ source: 'fault', kind: 'power-cut', text: 'power cut (by the scenario)' });
    },
    fault,
    async runUntilFault(command, handle, o = {}) {
      const running = sh(command, o);
      running.catch(() => undefined); // after a cut the command's promise fails on its own time
      // A command that failed because the power went (its console gave up on it) is the cut.
      const ended = running.then(
        (result) => ({ cut: false as const, result }),
        async (e: unknown) => {
          if (!handle.hasFired()) throw e;
          await handle.injected;
          return { cut: true as const };
        },
      );
      const r = await Promise.race([ended, handle.injected.then(() => ({ cut: true as const }))]);
      if (!r.cut && handle.hasFired()) {
        // The command finished while the fault was on its way: the power still goes.
        await handle.injected;
        return { cut: true };
      }
      return r;
    },
    async check(name, fn) {
      let ok: boolean | string | void;
      try {
        ok = await fn();
      } catch (e) {
        ok = e instanceof Error ? e.message : String(e);
      }
      const failed = ok === false || typeof ok === 'string';
      const detail = typeof ok === 'string' ? ok : failed ? 'returned false' : '';
      timeline.append({ source: 'check', kind: failed ? 'fail' : 'pass', text: failed ? `${name}: ${detail}` : name });
      if (failed) throw new CheckFailed(name, detail);
    },
    expectFinal(version) {
      expected = typeof version === 'string' ? [version] : [...version];
    },
  };
  return {
    ctx,
    expectedFinal: () => expected,
    dispose: () => {
      for (const s of schedulers) s.dispose();
      schedulers.clear();
      // The console outlives the scenario: no listener of this one may fire in the next.
      for (const stop of [...holdStops]) stop();
    },
  };
}
