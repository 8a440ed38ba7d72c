// The sensitivity catalogue: seeded bugs the campaign must catch, each a mistake OTA updaters make.
// Client mutants are builds of the real client with __FLIPSIDE_INJECTED_BUG__ (client/injected-bug.ts);
// boot mutants change the boot logic the host-sim applies (harness/host-sim/boot-script.ts).
import { INJECTED_BUGS, MANAGED_BUGS, type InjectedBug } from '../../client/injected-bug.js';
import type { Mode } from './flows.js';
import { BOOT_SCRIPT_BUGS, type BootScriptBug } from '../host-sim/boot-script.js';

/** `mode`: the flows a mutant is searched on (a managed-only bug shows only with the daemon and the server). */
export type Mutant = ({ name: InjectedBug; where: 'client'; what: string } | { name: BootScriptBug; where: 'boot'; what: string }) & { mode: Mode };

export const MUTANTS: Mutant[] = [
  ...(Object.entries(INJECTED_BUGS) as [InjectedBug, string][]).map(([name, what]) => ({ name, where: 'client' as const, what, mode: (MANAGED_BUGS.has(name) ? 'managed' : 'standalone') as Mode })),
  ...(Object.entries(BOOT_SCRIPT_BUGS) as [BootScriptBug, string][]).map(([name, what]) => ({ name, where: 'boot' as const, what, mode: 'standalone' as Mode })),
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
