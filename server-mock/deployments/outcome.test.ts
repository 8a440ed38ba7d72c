import test from 'ava';
import { deploymentOutcome } from './outcome.js';

const finished = (statistics: Record<string, number>, stop_reason: string | null = null) => deploymentOutcome({ status: 'finished', stop_reason, statistics });

test('only a deployment where every device installed (or had it) succeeded', (t) => {
  t.is(finished({ success: 2, 'already-installed': 1, failure: 0, noartifact: 0 }), 'succeeded');
  t.is(finished({ success: 2, failure: 1 }), 'failed');
  t.is(finished({ success: 1, failure: 1, noartifact: 1 }), 'failed');
  t.is(finished({ success: 1, noartifact: 1 }), 'incomplete');
  t.is(finished({ success: 1, decommissioned: 1 }), 'incomplete');
  t.is(finished({ success: 0, failure: 0 }), 'incomplete', 'a deployment that reached no device installed nothing');
});

test('a stop reason wins over the counts; a rollout still running keeps its state', (t) => {
  t.is(finished({ success: 1, aborted: 2 }, 'aborted'), 'aborted');
  t.is(finished({ failure: 3, aborted: 7 }, 'error_threshold'), 'stopped');
  t.is(deploymentOutcome({ status: 'inprogress', statistics: { failure: 1, pending: 3 } }), 'inprogress');
  t.is(deploymentOutcome({ status: 'scheduled', statistics: {} }), 'scheduled');
  t.is(deploymentOutcome({ status: 'pending', statistics: { pending: 2 } }), 'pending');
});
