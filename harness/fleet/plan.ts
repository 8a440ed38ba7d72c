// What each simulated device does with each attempt at the update, decided from the seed alone:
// the devices act on it and the final check predicts every device's status from it, so the check
// does not trust what the devices say they did.
import { createRng } from '../faults/prng.js';

export type AttemptOutcome = 'success' | 'fail-install' | 'fail-commit';

/** The outcome of a device's attempt (0 = first try); failureRate is per attempt. */
export function attemptOutcome(seed: number, device: number, attempt: number, failureRate: number): AttemptOutcome {
  const rng = createRng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(device + 1, 0x85ebca6b) ^ Math.imul(attempt + 1, 0xc2b2ae35)) >>> 0);
  if (rng.next() >= failureRate) return 'success';
  // A real client fails either while installing or after the reboot (the commit check fails and
  // it rolls back): the second path sends rebooting before failure.
  return rng.next() < 0.5 ? 'fail-install' : 'fail-commit';
}

/** The status the server must end with for a device: success if any allowed attempt succeeds. */
export function expectedFinalStatus(seed: number, device: number, failureRate: number, retries: number): 'success' | 'failure' {
  for (let a = 0; a <= retries; a++) if (attemptOutcome(seed, device, a, failureRate) === 'success') return 'success';
  return 'failure';
}
