// The doctor's check ids in run order, for `flipside-lab doctor --help`: the checks themselves
// (runner.ts) load U-Boot env code and node:crypto, which the CLI's start-up should not pay for.
// doctor.test.ts holds this list to DOCTOR_CHECKS.
export const DOCTOR_CHECK_IDS = ['env-linux-to-bootloader', 'env-bootloader-to-linux', 'env-redundant-copies', 'rollback'] as const;
