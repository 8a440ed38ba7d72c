// Mender state script names: <State>_<Enter|Leave|Error>_<NN>[_<description>], run in name
// order (NN first, as the names share the prefix). Idle, Sync and Download scripts live in the
// rootfs (/etc/mender/scripts); the Artifact* ones come with the artifact and are stored in the
// artifact scripts dir (/var/lib/mender/scripts in Mender).

export const STATES = [
  'Idle',
  'Sync',
  'Download',
  'ArtifactInstall',
  'ArtifactReboot',
  'ArtifactCommit',
  'ArtifactRollback',
  'ArtifactRollbackReboot',
  'ArtifactFailure',
] as const;
export type ScriptState = (typeof STATES)[number];

export const ACTIONS = ['Enter', 'Leave', 'Error'] as const;
export type ScriptAction = (typeof ACTIONS)[number];

export const ROOTFS_SCRIPTS_DIR = '/etc/mender/scripts';
export const ARTIFACT_SCRIPTS_DIR = '/var/lib/mender/scripts';
/** Versions a `version` file in a scripts dir may hold (Mender's supported_state_script_versions). */
export const SUPPORTED_SCRIPT_VERSIONS = ['2', '3'];

export function isScriptState(s: string): s is ScriptState {
  return (STATES as readonly string[]).includes(s);
}

/** True for states whose scripts come from the rootfs rather than from the artifact. */
export function isRootfsState(state: ScriptState): boolean {
  return state === 'Idle' || state === 'Sync' || state === 'Download';
}

/** The dir to pass to runStateScripts for a state. */
export function scriptDirFor(state: ScriptState, dirs: { rootfs: string; artifact: string } = { rootfs: ROOTFS_SCRIPTS_DIR, artifact: ARTIFACT_SCRIPTS_DIR }): string {
  return isRootfsState(state) ? dirs.rootfs : dirs.artifact;
}

export function scriptNamePattern(state: string, action: string): RegExp {
  return new RegExp(`^${state}_${action}_[0-9][0-9](_\\S+)?$`);
}

const ANY_ACTION = (state: string) => new RegExp(`^${state}_(Enter|Leave|Error)_[0-9][0-9](_\\S+)?$`);

/**
 * Picks the scripts of one state and action from a dir listing, sorted. Names that start like a
 * script of this state but do not fit the pattern are reported once per state (during Enter, or
 * during their own action), so a typo is seen and not silently never run.
 */
export function selectScripts(names: string[], state: string, action: string): { scripts: string[]; misnamed: string[] } {
  const exact = scriptNamePattern(state, action);
  const anyAction = ANY_ACTION(state);
  const scripts: string[] = [];
  const misnamed: string[] = [];
  for (const name of names) {
    if (exact.test(name)) scripts.push(name);
    else if (name.startsWith(`${state}_${action}`) && !anyAction.test(name)) misnamed.push(name);
    else if (action === 'Enter' && name.startsWith(`${state}_`) && !/^[^_]+_(Enter|Leave|Error)/.test(name)) misnamed.push(name);
  }
  scripts.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { scripts, misnamed };
}

/** Why a script name from an artifact cannot be stored, or null when it is fine. */
export function artifactScriptNameProblem(name: string): string | null {
  if (name === '' || name.includes('/') || name.includes('\\') || name.includes('..') || name.includes('\0')) {
    return 'must be a plain file name (no "/", "\\", ".." or NUL)';
  }
  const m = /^([A-Za-z]+)_(Enter|Leave|Error)_[0-9][0-9](_\S+)?$/.exec(name);
  if (!m || !isScriptState(m[1]!)) return 'is not <State>_<Enter|Leave|Error>_<NN>[_<description>] for a known state';
  if (isRootfsState(m[1] as ScriptState)) return `${m[1]} scripts run from the rootfs (${ROOTFS_SCRIPTS_DIR}), not from an artifact`;
  return null;
}
