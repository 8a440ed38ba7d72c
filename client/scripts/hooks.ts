// Glue for the state machine: `run(state, action)` that picks the dir by state (rootfs dir for
// Idle/Sync/Download, the deployment's artifact scripts dir for the rest), runs the scripts and
// throws StateScriptError when they fail (Error scripts never throw).
import { runStateScripts, type ScriptFailure } from './run-state-scripts.js';
import { isRootfsState, isScriptState } from './state-script-names.js';

export class StateScriptError extends Error {
  constructor(readonly failure: ScriptFailure) {
    super(failure.message);
    this.name = 'StateScriptError';
  }
}

export interface StateScriptHooksOptions {
  rootfsDir: string;
  /** The deployment's artifact scripts dir, null before the artifact headers are known. */
  artifactDir: string | null;
  timeoutMs: number;
  retryLaterTimeoutMs: number;
  retryIntervalMs: number;
  env?: Record<string, string>;
  log: (line: string) => void;
}

export function createStateScriptHooks(o: StateScriptHooksOptions): { run(state: string, action: 'Enter' | 'Leave' | 'Error'): Promise<void> } {
  return {
    async run(state, action) {
      const rootfs = isScriptState(state) && isRootfsState(state);
      const dirs = rootfs ? [o.rootfsDir] : o.artifactDir ? [o.artifactDir] : [];
      const outcome = await runStateScripts({ ...o, dirs, state, action });
      if (!outcome.ok) throw new StateScriptError(outcome.failure);
    },
  };
}
