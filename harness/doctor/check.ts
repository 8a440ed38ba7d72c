// A doctor check is a small module: an id, what it proves, and run() returning a verdict with the
// evidence and, when it fails, the exact change that fixes it. Checks share what they learned
// (fw_env.config, where U-Boot keeps the A/B variables) through DoctorFacts, so later checks do
// not boot the board again to find it out.
import type { FwEnvConfig } from '../../bootenv/fw-env-config.js';
import type { DoctorBench } from './bench.js';

export type CheckStatus = 'pass' | 'fail' | 'skip' | 'error';

export interface CheckResult {
  status: CheckStatus;
  /** One or two sentences: what was seen. */
  detail: string;
  /** The exact change that makes the check pass (a config line, a Kconfig option). */
  fix?: string;
  /** Numbers worth keeping (boots, bytes read, offsets). */
  measured?: Record<string, number | string>;
}

export interface DoctorFacts {
  fwEnv?: { text: string; config: FwEnvConfig };
  /** native: U-Boot's own env is the raw one (printenv sees it); script: a boot script reads the raw copies. */
  integration?: 'native' | 'script';
  /** Check ids that failed, for checks whose result depends on an earlier one. */
  failed: Set<string>;
}

export interface DoctorContext {
  bench: DoctorBench;
  facts: DoctorFacts;
  log: (line: string) => void;
}

export interface DoctorCheck {
  id: string;
  title: string;
  run(ctx: DoctorContext): Promise<CheckResult>;
}
