// State scripts: naming rules, the runner and the artifact scripts store.
export {
  runStateScripts,
  RETRY_LATER_EXIT_CODE,
  type RunStateScriptsOptions,
  type ScriptOutcome,
  type ScriptFailure,
  type ScriptFailureReason,
} from './run-state-scripts.js';
export { storeArtifactScripts, ScriptStoreError, SCRIPTS_VERSION } from './store-artifact-scripts.js';
export {
  STATES,
  ACTIONS,
  ROOTFS_SCRIPTS_DIR,
  ARTIFACT_SCRIPTS_DIR,
  isRootfsState,
  scriptDirFor,
  artifactScriptNameProblem,
  type ScriptState,
  type ScriptAction,
} from './state-script-names.js';
export { DEFAULT_CAPTURE_LIMITS, type CaptureLimits } from './output-capture.js';
export { createStateScriptHooks, StateScriptError, type StateScriptHooksOptions } from './hooks.js';
