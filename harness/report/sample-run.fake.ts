// A realistic run for the report tests and for `flipside-lab report --sample`-style demos: a
// passing update, a power cut in ArtifactReboot that ends in a rollback, a failed check with hostile
// console bytes, and a skipped scenario. Built through the real Timeline and FaultScheduler so the
// sample has exactly the shape a live run records.
import { FaultScheduler } from '../faults/scheduler.js';
import type { RunRecord, ScenarioResult } from '../run/result.js';
import { Timeline } from '../run/timeline.js';
import type { ConsoleLine } from '../types.js';

export interface SampleOptions {
  /** Extra boot-noise console lines in the power-cut scenario (to exercise large reports). */
  noiseLines?: number;
}

const state = (s: string, dep = 'dep-42') => `FLIPSIDE-STATE {"state":"${s}","deployment":"${dep}","t":1763928000000}`;

function recorder(start: number) {
  let now = start;
  const tl = new Timeline({ origin: start, clock: () => now });
  const listeners = new Set<(l: ConsoleLine) => void>();
  return {
    tl,
    at: (ms: number) => (now = start + ms),
    line: (text: string) => {
      const l = { t: now, text };
      tl.appendConsoleLine(l);
      for (const f of [...listeners]) f(l);
    },
    console: {
      onLine: (f: (l: ConsoleLine) => void) => {
        listeners.add(f);
        return () => listeners.delete(f);
      },
    },
  };
}

function result(r: ReturnType<typeof recorder>, partial: Omit<ScenarioResult, 'timeline' | 'seed' | 'board' | 'artifacts'>): ScenarioResult {
  return { ...partial, board: 'qemu-aarch64', seed: 1234, timeline: [...r.tl.events()], artifacts: [] };
}

function happy(): ScenarioResult {
  const r = recorder(1_000_000);
  r.line('U-Boot 2023.01+dfsg-2 (Jan 01 2023)');
  r.at(900);
  r.line('\x1b[0;32m[  OK  ]\x1b[0m Reached target Multi-User System.');
  r.at(1200);
  r.tl.append({ source: 'server', kind: 'deployment', text: 'deployment dep-1 created for qemu-aarch64 (artifact release-2)' });
  for (const [ms, s, status] of [
    [1500, 'Download', 'downloading'],
    [4200, 'ArtifactInstall', 'installing'],
    [6100, 'ArtifactReboot', 'rebooting'],
    [17_800, 'ArtifactVerifyReboot', null],
    [18_000, 'ArtifactCommit', null],
    [18_300, 'Cleanup', 'success'],
  ] as const) {
    r.at(ms);
    r.line(state(s, 'dep-1'));
    if (status) r.tl.append({ source: 'server', kind: 'status', text: `status ${status}`, data: { status } });
  }
  r.at(18_500);
  r.tl.append({ source: 'env', kind: 'snapshot', text: 'boot_part=3 upgrade_available=0 bootcount=0', data: { boot_part: '3', upgrade_available: '0', bootcount: '0' } });
  r.tl.append({ source: 'check', kind: 'pass', text: 'exactly one rootfs committed (B)' });
  return result(r, { scenario: 'happy-update', status: 'passed', durationMs: 18_600, startedAt: '2026-11-23T20:00:00.000Z' });
}

function powerCut(noise: number): ScenarioResult {
  const r = recorder(2_000_000);
  const sched = new FaultScheduler({
    faults: [{ kind: 'power-cut', at: { on: 'state', state: 'ArtifactReboot' } }],
    sources: { console: r.console },
    timeline: r.tl,
    action: () => {
      r.tl.append({ source: 'harness', kind: 'power', text: 'power cut (QEMU killed)' });
    },
  });
  sched.arm();
  r.line('U-Boot 2023.01+dfsg-2 (Jan 01 2023)');
  for (let i = 0; i < noise; i++) {
    r.at(100 + Math.floor((i * 1300) / noise)); // boot noise, all before the update starts
    r.line(`[ ${(0.1 + i / 1000).toFixed(6)}] kernel: noise line ${i}`);
  }
  r.at(1500);
  r.line(state('Download'));
  r.tl.append({ source: 'server', kind: 'status', text: 'status downloading', data: { status: 'downloading' } });
  r.at(3900);
  r.line(state('ArtifactInstall'));
  r.at(5200);
  r.line(`[    5.2] ${state('ArtifactReboot')}`);
  sched.dispose();
  r.line('\x00\x00\xff\xfe'); // what a UART prints as power drops
  r.at(7000);
  r.tl.append({ source: 'harness', kind: 'power', text: 'power on' });
  r.tl.append({ source: 'env', kind: 'snapshot', text: 'boot_part=3 upgrade_available=1 bootcount=1', data: { boot_part: '3', upgrade_available: '1', bootcount: '1' } });
  r.at(9000);
  r.line('U-Boot 2023.01+dfsg-2 (Jan 01 2023)');
  r.line('Boot limit exceeded: rolling back to partition 2');
  r.at(18_000);
  r.line(state('ArtifactVerifyReboot'));
  r.line(state('ArtifactRollback'));
  r.at(18_400);
  r.line(state('ArtifactRollbackReboot'));
  r.at(29_000);
  r.line(state('ArtifactVerifyRollbackReboot'));
  r.line(state('ArtifactFailure'));
  r.line(state('Cleanup'));
  r.tl.append({ source: 'server', kind: 'status', text: 'status failure', data: { status: 'failure' } });
  r.at(29_300);
  r.tl.append({ source: 'env', kind: 'snapshot', text: 'boot_part=2 upgrade_available=0 bootcount=0', data: { boot_part: '2', upgrade_available: '0', bootcount: '0' } });
  r.tl.append({ source: 'check', kind: 'pass', text: 'board boots the old rootfs (A) after the cut' });
  r.tl.append({ source: 'check', kind: 'pass', text: 'server reports failure, device agrees' });
  return result(r, { scenario: 'power-cut-in-reboot', status: 'passed', durationMs: 29_400, startedAt: '2026-11-23T20:00:19.000Z' });
}

function badCheck(): ScenarioResult {
  const r = recorder(3_000_000);
  r.line('U-Boot 2023.01+dfsg-2 (Jan 01 2023)');
  r.at(300);
  r.line('\x1b]0;hostile title\x07</script><script>alert("x")</script><!-- & ]]> \ud800');
  r.at(900);
  r.line(state('Download', 'dep-43'));
  r.tl.append({ source: 'fault', kind: 'server-down', text: 'server-down for 30000 ms at client state Download', data: { index: 0, fault: { kind: 'server-down', at: { on: 'state', state: 'Download' }, durationMs: 30_000 } } });
  r.at(31_000);
  r.tl.append({ source: 'server', kind: 'status', text: 'status success', data: { status: 'success' } });
  r.tl.append({ source: 'check', kind: 'fail', text: 'server says success, device still runs rootfs A' });
  return result(r, {
    scenario: 'server-down-during-download',
    status: 'failed',
    durationMs: 31_200,
    startedAt: '2026-11-23T20:00:49.000Z',
    failure: { message: 'server view <success> does not match the device (rootfs A, no commit)', stage: 'check: server matches device', cause: 'AssertionError: expected "A" to be "B"\n    at check (scenarios/server-down.ts:41:11)' },
  });
}

function skipped(): ScenarioResult {
  return {
    scenario: 'network-shaping',
    board: 'qemu-aarch64',
    seed: 1234,
    status: 'skipped',
    durationMs: 0,
    startedAt: '2026-11-23T20:01:20.000Z',
    failure: { message: 'board qemu-aarch64 has no network.shape() capability' },
    timeline: [],
    artifacts: [],
  };
}

export function sampleRun(opts: SampleOptions = {}): RunRecord {
  return {
    id: '20261123-200000-beef',
    startedAt: '2026-11-23T20:00:00.000Z',
    finishedAt: '2026-11-23T20:01:20.500Z',
    boards: ['qemu-aarch64'],
    seed: 1234,
    scenarios: [happy(), powerCut(opts.noiseLines ?? 40), badCheck(), skipped()],
  };
}
