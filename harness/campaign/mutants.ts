// The sensitivity catalogue: seeded bugs the campaign must catch, each a mistake OTA updaters make.
// Client mutants are builds of the real client with __FLIPSIDE_INJECTED_BUG__ (client/injected-bug.ts);
// boot mutants change the boot logic the host-sim applies (harness/host-sim/boot-script.ts).
import { INJECTED_BUGS, MANAGED_BUGS, type InjectedBug } from '../../client/injected-bug.js';
import type { Mode } from './flows.js';
import { BOOT_SCRIPT_BUGS, type BootScriptBug } from '../host-sim/boot-script.js';

/**
 * `modes`: the flows a mutant is searched on. A managed-only bug shows only with the daemon and the
 * server; a standalone bug is searched on the managed flows too where the daemon runs the code it
 * breaks, and `notManaged` says why where it does not.
 */
export type Mutant = ({ name: InjectedBug; where: 'client'; what: string } | { name: BootScriptBug; where: 'boot'; what: string }) & { modes: Mode[]; notManaged?: string };

/**
 * Standalone mutants the managed flows cannot show: what the bug breaks is never run by them
 * (EXPERIMENT PENDING: filled from a managed campaign with every mutant).
 */
export const NOT_MANAGED: Partial<Record<InjectedBug | BootScriptBug, string>> = {};

const modesOf = (name: InjectedBug | BootScriptBug): { modes: Mode[]; notManaged?: string } =>
  MANAGED_BUGS.has(name) ? { modes: ['managed'] } : NOT_MANAGED[name] ? { modes: ['standalone'], notManaged: NOT_MANAGED[name] } : { modes: ['standalone', 'managed'] };

export const MUTANTS: Mutant[] = [
  ...(Object.entries(INJECTED_BUGS) as [InjectedBug, string][]).map(([name, what]) => ({ name, where: 'client' as const, what, ...modesOf(name) })),
  ...(Object.entries(BOOT_SCRIPT_BUGS) as [BootScriptBug, string][]).map(([name, what]) => ({ name, where: 'boot' as const, what, ...modesOf(name) })),
];

/** `all`, or a comma-separated list of names; an unknown name is an error that lists the known ones. */
export function selectMutants(spec: string | undefined): Mutant[] {
  if (spec === undefined || spec === '' || spec === 'none') return [];
  if (spec === 'all') return MUTANTS;
  return spec.split(',').map((n) => {
    const m = MUTANTS.find((x) => x.name === n.trim());
    if (!m) throw new Error(`unknown mutant ${JSON.stringify(n)}; known: ${MUTANTS.map((x) => x.name).join(', ')}`);
    return m;
  });
}
