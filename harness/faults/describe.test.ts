import test from 'ava';
import { describeFault, describeTrigger } from './describe.js';

test('every trigger kind reads as a phrase', (t) => {
  t.is(describeTrigger({ on: 'state', state: 'ArtifactReboot' }), 'client state ArtifactReboot');
  t.is(describeTrigger({ on: 'state', state: 'ArtifactReboot', nth: 2 }), 'client state ArtifactReboot (entry #2)');
  t.is(describeTrigger({ on: 'server-status', status: 'rebooting' }), 'server status rebooting');
  t.is(describeTrigger({ on: 'bytes-written', bytes: 4096 }), '4096 bytes written');
  t.is(describeTrigger({ on: 'bytes-sent', bytes: 1 }), '1 bytes sent');
  t.is(describeTrigger({ on: 'time', ms: 250 }), '250 ms');
  t.is(describeTrigger({ on: 'boot-stage', stage: 'bootloader', nth: 1 }), 'boot stage bootloader');
});

test('a fault names its kind, shape, duration and trigger', (t) => {
  t.is(describeFault({ kind: 'power-cut', at: { on: 'bytes-written', bytes: 10 } }), 'power-cut at 10 bytes written');
  t.is(
    describeFault({ kind: 'network-shape', at: { on: 'time', ms: 5 }, durationMs: 1000, shape: { lossPct: 5 } }),
    'network-shape {"lossPct":5} for 1000 ms at 5 ms',
  );
});
