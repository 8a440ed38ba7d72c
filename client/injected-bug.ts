// Deliberate bugs for proving the harness catches them (`buildDeviceBundle({ injectBug })`): a
// test build defines __FLIPSIDE_INJECTED_BUG__, a release build defines it as null so the guarded
// branches are dead code; run from source (tsx) the identifier does not exist and nothing is injected.
export const INJECTED_BUGS = {
  'skip-fsync': 'the partition is not fsynced before the env flip',
  'flip-before-checksum': 'the env is flipped when the payload stream ends, before (and whatever) the checksum verdict',
} as const;
export type InjectedBug = keyof typeof INJECTED_BUGS;

declare const __FLIPSIDE_INJECTED_BUG__: string | null | undefined;

export const INJECTED_BUG: InjectedBug | null =
  typeof __FLIPSIDE_INJECTED_BUG__ === 'string' && __FLIPSIDE_INJECTED_BUG__ in INJECTED_BUGS ? (__FLIPSIDE_INJECTED_BUG__ as InjectedBug) : null;
