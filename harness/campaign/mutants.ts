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
 * Standalone mutants not searched on the managed flows, and why. Two kinds: the managed flows never
 * run what the bug breaks (they deploy only artifacts with a valid checksum and a rootfs that boots),
 * and bugs no managed search has caught yet (measured 2026-12-03 16:58-17:21 UTC at load average
 * 25-35, seed 1: a managed search of the 13 standalone mutants caught rollback-keeps-boot-part,
 * store-in-place and no-crc in its first 123 states, about 10 per mutant, and was stopped there;
 * 2026-12-03 20:30-20:51 UTC at load average 17-22, seed 1: a managed search of the six left
 * caught state-after-effect at managed-unhealthy:200:1 and resume-unvalidated at managed-update:40:2
 * (in the first 110 states, about 18 per mutant) and skip-fsync at managed-update:235:1 (within
 * the first 473) and was stopped after 707; commit-before-health-check, env-in-place and
 * no-dir-fsync (about 200 states each) stay on the standalone flows, which catch them, until a
 * managed run shows a catch).
 */
const UNPROVEN = 'no managed search has caught it yet (the standalone flows do); not searched on the managed flows until one does';
export const NOT_MANAGED: Partial<Record<InjectedBug | BootScriptBug, string>> = {
  'flip-before-checksum': 'shows only with a payload whose checksum fails (the standalone corrupt flow); the managed flows deploy valid artifacts',
  'no-bootcount': 'shows only where the bootloader must roll back a rootfs that does not boot (the standalone broken flow); the managed flows deploy rootfs that boot',
  'altboot-no-swap': 'shows only where the bootloader must roll back a rootfs that does not boot (the standalone broken flow); the managed flows deploy rootfs that boot',
  'commit-unchecked': 'shows only after a bootloader rollback of a rootfs that does not boot (the standalone broken flow); the managed flows deploy rootfs that boot',
  'commit-before-health-check': UNPROVEN,
  'env-in-place': UNPROVEN,
  'no-dir-fsync': UNPROVEN,
};

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
