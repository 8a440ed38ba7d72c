// A board as scenarios see it: capabilities (protocol drivers) and a strategy, plus the few
// lifecycle hooks the runner needs to give every scenario a freshly installed device. Which
// drivers back the capabilities (QEMU, a relay, a simulation) is the binding's business.
import type { ByteCounter } from '../faults/sources.js';
import type { Strategy } from '../strategy/board-strategy.js';
import type { Console, Fault, Network, Power, Shell, Storage } from '../types.js';
import type { ClientKind } from '../scenario/client.js';

/**
 * What a scenario can ask for. `bytes-written` = byte-offset faults on the payload write (a disk
 * write counter, or the client holding at the byte where the board has none);
 * `server` = managed mode: the device's client daemon reaches the harness's reference server;
 * `exact-cuts` = a power cut at a client state (also `<State>:done`) of a `flipside` command (Mender
 * images: before or after the env write, `fw_setenv`/`fw_setenv:done`, of a `mender` command) lands
 * exactly there (host-sim: the client's kill hooks; other boards: the client holds for the cut);
 * `boot-console` = the console shows the board from power-on (bootloader, init, the daemon's
 * output): a board whose only console is a shell through the server lacks it.
 */
export const CAPABILITIES = ['power', 'console', 'shell', 'network', 'storage', 'bytes-written', 'server', 'exact-cuts', 'boot-console'] as const;
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
  readonly strategy: Strategy;
  readonly capabilities: ReadonlySet<Capability>;
  readonly versions: LabVersions;
  /** The updater the board's image carries (default flipside): scenarios call it through ctx.client. */
  readonly client?: ClientKind;
  /** Host paths of the artifacts by role, after prepare(). */
  readonly artifacts: Partial<Record<ArtifactRole, string>>;
  /** Size of a rootfs payload (the partition image), for byte-offset faults. */
  readonly rootfsBytes?: number;
  /** Payload bytes the board wrote to its disk since the last power-on, where it can count them. */
  readonly bytesWritten?: ByteCounter;
  /**
   * The client on this board honours FLIPSIDE_TEST_HOLD_AT given on a `flipside` command typed
   * into its shell, and its console shows the command's stderr: a power cut at a client state is
   * then exact (the client prints `FLIPSIDE-HOLD <state>` and stops there until the power goes),
   * where armFault cannot kill the client itself.
   */
  readonly holdsForCuts?: boolean;
  /**
   * Managed mode: where the fault proxy in front of the reference server must listen for the
   * device to reach it (a lab board: the bench network address its image's client was built
   * with). Absent: 127.0.0.1 on a free port, handed to the board in reset().
   */
  readonly serverListen?: { host: string; port: number };
  /**
   * Managed mode: the host name the device's client puts in its requests to the server (QEMU:
   * the guestfwd address). The server shapes download links from a Host header only when it
   * names the server, so without this the links would point where the device cannot reach.
   */
  readonly deviceServerHost?: string;
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
 * rootfs with an ArtifactCommit_Enter script that exits 1 (a failing health check). `signed`: the
 * next rootfs signed with the lab's trusted key (harness/board/lab-keys.ts); `unsigned` and
 * `wrong-key`: small artifacts for the board, unsigned and signed with a key the device does not
 * trust (small: a device refuses them at the manifest, and the data partition holds them all).
 */
export const ARTIFACT_ROLES = ['next', 'broken', 'corrupt', 'wrong-device', 'unhealthy', 'signed', 'unsigned', 'wrong-key'] as const;
export type ArtifactRole = (typeof ARTIFACT_ROLES)[number];

/** Where a role's artifact lives on the device in standalone mode. */
export function devicePathOf(role: ArtifactRole): string {
  return `/data/${role}.mender`;
}
