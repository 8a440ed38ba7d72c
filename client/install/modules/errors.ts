// The one error type of the update-module runner: the state machine branches on `code` and reports
// `state`, `exitCode` and the tail of the module's stderr in the deployment log.

/** Every argument the runner ever passes as `<State>`, plus `lookup` for findModule failures. */
export type ModuleState =
  | 'ProvidePayloadFileSizes'
  | 'Download'
  | 'DownloadWithFileSizes'
  | 'ArtifactInstall'
  | 'NeedsArtifactReboot'
  | 'SupportsRollback'
  | 'ArtifactReboot'
  | 'ArtifactVerifyReboot'
  | 'ArtifactCommit'
  | 'ArtifactRollback'
  | 'ArtifactRollbackReboot'
  | 'ArtifactVerifyRollbackReboot'
  | 'ArtifactFailure'
  | 'Cleanup';

export type ModuleErrorCode =
  /** The module file is missing, not a regular file, or the payload type is not a plain name. */
  | 'NOT_FOUND'
  | 'NOT_EXECUTABLE'
  /** The process could not be started at all. */
  | 'SPAWN'
  /** The module exited non-zero or was killed by a signal it did not get from us. */
  | 'EXIT'
  /** The per-state timeout fired; the whole process group was killed. */
  | 'TIMEOUT'
  /** A query printed something other than the documented answers, or more than one line. */
  | 'PROTOCOL'
  /** The streaming download broke: the module stopped reading, or exited before the end marker. */
  | 'STREAM'
  /** A state other than Cleanup was called with no file tree on disk. */
  | 'NO_TREE'
  /** The file tree or a downloaded file could not be written. */
  | 'IO';

export class ModuleError extends Error {
  readonly code: ModuleErrorCode;
  readonly state: ModuleState | 'lookup';
  /** Exit status when the process ran and exited; null when it never ran or died by a signal. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Last lines of the module's stderr (at most a few KiB), for the deployment log. */
  readonly stderrTail: string;

  constructor(
    code: ModuleErrorCode,
    state: ModuleState | 'lookup',
    message: string,
    details: { exitCode?: number | null; signal?: NodeJS.Signals | null; stderrTail?: string; cause?: unknown } = {},
  ) {
    const tail = details.stderrTail ?? '';
    super(tail ? `${message}; stderr: ${tail.trimEnd()}` : message, { cause: details.cause });
    this.name = 'ModuleError';
    this.code = code;
    this.state = state;
    this.exitCode = details.exitCode ?? null;
    this.signal = details.signal ?? null;
    this.stderrTail = tail;
  }
}

export function isModuleError(e: unknown): e is ModuleError {
  return e instanceof ModuleError;
}
