// The deployment status is kept from index seeks (store.ts, deploymentStatusFrom) instead of a
// count of every device: these are the rules the count gave, and the status lists it relies on.
import test from 'ava';
import { deploymentStatusFrom, FINAL_DEVICE_STATUSES, OPEN_DEVICE_STATUSES } from './store.js';
import { DEVICE_SETTABLE_STATUSES } from '../deployments/rollout.js';

test('every status a device can have is either open or final, never both', (t) => {
  const open = new Set<string>(OPEN_DEVICE_STATUSES);
  for (const s of [...DEVICE_SETTABLE_STATUSES, 'pending', 'aborted', 'decommissioned', 'noartifact']) {
    t.true(open.has(s) !== FINAL_DEVICE_STATUSES.has(s), s);
  }
});

test('finished once no device is open, in progress once one started, otherwise unchanged', (t) => {
  const never = () => {
    throw new Error('not asked');
  };
  t.is(deploymentStatusFrom({ anyOpen: false, anyDevice: true, anyStarted: never }, 'pending'), 'finished');
  t.is(deploymentStatusFrom({ anyOpen: false, anyDevice: true, anyStarted: never }, 'inprogress'), 'finished');
  // No devices at all: nothing to finish.
  t.is(deploymentStatusFrom({ anyOpen: false, anyDevice: false, anyStarted: () => false }, 'pending'), 'pending');
  // In progress stays so without asking again.
  t.is(deploymentStatusFrom({ anyOpen: true, anyDevice: true, anyStarted: never }, 'inprogress'), 'inprogress');
  t.is(deploymentStatusFrom({ anyOpen: true, anyDevice: true, anyStarted: () => true }, 'pending'), 'inprogress');
  t.is(deploymentStatusFrom({ anyOpen: true, anyDevice: true, anyStarted: () => false }, 'pending'), 'pending');
  t.is(deploymentStatusFrom({ anyOpen: true, anyDevice: true, anyStarted: () => false }, 'scheduled' as never), 'scheduled' as never);
});
