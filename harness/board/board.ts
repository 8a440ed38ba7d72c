// A board as scenarios see it: capabilities (protocol drivers) and a strategy, plus the few
// lifecycle hooks the runner needs to give every scenario a freshly installed device. Which
// drivers back the capabilities (QEMU, a relay, a simulation) is the binding's business.
import type { ByteCounter } from '../faults/sources.js';
import type { BoardStrategy } from '../strategy/board-strategy.js';
import type { Console, Fault, Network, Power, Shell, Storage } from '../types.js';

/**
 * What a scenario can ask for. `bytes-written` = a disk write counter for byte-offset faults;
 * `server` = managed mode: the device's client daemon reaches the harness's reference server.
 */
export const CAPABILITIES = ['power', 'console', 'shell', 'network', 'storage', 'bytes-written', 'server'] as const;
export type Capability = (typeof CAPABILITIES)[number];

export interface BoardCaps {
  console: Console;
  shell: Shell;
  power: Power;
  network?: Network;
  storage?: Storage;
}

/** Offline view of the redundant env: is each copy readable, and the variables of the current one. */
export interface EnvCopies {
  copies: { offset: number; crcOk: boolean; flag: number | null }[];
  current: number | null;
  vars: Record<string, string>;
}

/** The versions a run works with: installed on a fresh board, the update, the broken update. */
export interface LabVersions {
  current: string;
  next: string;
  broken: string;
}

/** Files the runner wants on the data partition before the first boot (artifacts, the canary). */
export type DataFiles = Record<string, { path: string } | { content: Buffer }>;

export interface ResetOptions {
  /** Folder for this scenario's disk copy, sockets and logs. */
  runDir: string;
  /** Device path under the data mount (/data/...) → host file or content. */
  dataFiles: DataFiles;
  /** Managed mode: the host port (the fault proxy in front of the reference server) the device's server address leads to. */
  serverPort?: number;
}

export interface Board {
  readonly name: string;
  readonly caps: BoardCaps;
  readonly strategy: BoardStrategy;
  readonly capabilities: ReadonlySet<Capability>;
  readonly versions: LabVersions;
  /** Host paths of the artifacts by role, after prepare(). */
  readonly artifacts: Partial<Record<ArtifactRole, string>>;
  /** Size of a rootfs payload (the partition image), for byte-offset faults. */
  readonly rootfsBytes?: number;
  /** Payload bytes the board wrote to its disk since the last power-on, where it can count them. */
  readonly bytesWritten?: ByteCounter;
  /**
   * Injects a fault itself, at the exact point, where the board can (host-sim: the client's kill
   * hooks); `onInjected` runs once the fault took effect, before the interrupted command returns.
   * null: the board cannot, and the harness triggers the fault from the console or byte counters.
   */
  armFault?(fault: Fault, onInjected: () => void): { dispose(): void } | null;
  /** Offline env copies, where the board's storage can be read with the power off. */
  readEnvCopies?(): Promise<EnvCopies>;
  /** Once per run: build or fetch images and artifacts. */
  prepare(log: (line: string) => void): Promise<void>;
  /** Before each scenario: a fresh device running `versions.current`, powered off, with `dataFiles` in place. */
  reset(opts: ResetOptions): Promise<void>;
  /** After each scenario: power off, free the scenario's resources; returns raw logs to keep. */
  release(): Promise<string[]>;
}

/**
 * Artifacts the scenarios can ask to find on the device's data partition. `unhealthy`: the next
 * rootfs with an ArtifactCommit_Enter script that exits 1 (a failing health check).
 */
export const ARTIFACT_ROLES = ['next', 'broken', 'corrupt', 'wrong-device', 'unhealthy'] as const;
export type ArtifactRole = (typeof ARTIFACT_ROLES)[number];

/** Where a role's artifact lives on the device in standalone mode. */
export function devicePathOf(role: ArtifactRole): string {
  return `/data/${role}.mender`;
}
