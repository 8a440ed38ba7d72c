// The bugs a lab run can inject to prove the scenarios catch them (the client's, and the boot
// script's on host-sim): a module of its own so the CLI can list them without loading the boards.
import { INJECTED_BUGS, type InjectedBug } from '../../client/injected-bug.js';

export const LAB_BUGS = [...(Object.keys(INJECTED_BUGS) as InjectedBug[]), 'no-bootcount'] as const;
export type LabBug = (typeof LAB_BUGS)[number];
