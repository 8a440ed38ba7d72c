// Check bodies that say what was expected and what came instead, so a failure reads
// "expected artifact_name=lab-2, got artifact_name=lab-1" and not just the output that was there.

/** The last lines of a command's output, on one line: enough to see what it said. */
export function gist(text: string, lines = 3): string {
  const kept = text.trim().split('\n').filter((l) => l.trim() !== '').slice(-lines);
  return kept.length ? kept.join(' | ') : '(no output)';
}

/** true when `text` holds `want`; else "expected <want>, got <what text said>". */
export function expectIncludes(text: string, want: string): true | string {
  return text.includes(want) || `expected ${want}, got ${gist(text)}`;
}

/** true on exit 0; else "expected exit 0, got exit N: <its last lines>". */
export function expectExitZero(r: { code: number; stdout?: string }): true | string {
  return r.code === 0 || `expected exit 0, got exit ${r.code}${r.stdout?.trim() ? `: ${gist(r.stdout)}` : ''}`;
}

/** true on a non-zero exit; else "expected a refusal (non-zero exit), got exit 0". */
export function expectExitNonZero(r: { code: number; stdout?: string }): true | string {
  return r.code !== 0 || `expected a refusal (non-zero exit), got exit 0${r.stdout?.trim() ? `: ${gist(r.stdout)}` : ''}`;
}

/** What changed between two `fw_printenv` outputs: "upgrade_available 0 → 1, bootcount (unset) → 1". */
export function envChanges(before: string, after: string): string {
  const vars = (text: string) => new Map(text.split('\n').map((l) => /^([^=\s]+)=(.*)$/.exec(l.trim())).filter((m): m is RegExpExecArray => !!m).map((m) => [m[1]!, m[2]!]));
  const a = vars(before);
  const b = vars(after);
  const changed = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).map((k) => `${k} ${a.get(k) ?? '(unset)'} → ${b.get(k) ?? '(unset)'}`);
  return changed.length ? changed.join(', ') : `other output: ${gist(after)}`;
}
