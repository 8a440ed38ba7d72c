import test from 'ava';
import { createPower } from './open-power.js';
import { ExternalCommandPower } from './external-command-power.js';
import { HttpPduPower } from './http-pdu-power.js';
import { ManualPower } from './manual-power.js';

test('each power type builds its driver', (t) => {
  t.true(createPower({ type: 'command', on: ['true'], off: 'true' }) instanceof ExternalCommandPower);
  t.true(createPower({ type: 'preset', preset: 'uhubctl', vars: { hub: '1-1', port: 2 } }) instanceof ExternalCommandPower);
  t.true(createPower({ type: 'http', preset: 'netio', vars: { host: 'pdu', outlet: 1 } }) instanceof HttpPduPower);
  t.true(createPower({ type: 'http', on: { url: 'http://pdu/on' }, off: { url: 'http://pdu/off' } }) instanceof HttpPduPower);
  const manual = createPower({ type: 'manual' }, 'bbb');
  t.true(manual instanceof ManualPower);
  t.is(manual.name, 'bbb');
});

test('bad specs name the field', (t) => {
  t.throws(() => createPower({ type: 'relay' }, 'bbb'), { message: /invalid power spec for bbb: type: Invalid discriminator value/ });
  t.throws(() => createPower({ type: 'command', on: ['x'] }), { message: /off: Invalid input/ });
  t.throws(() => createPower({ type: 'http', on: { url: 'http://x' } }), { message: /needs a preset or both on and off/ });
  t.throws(() => createPower({ type: 'http', preset: 'apc' }), { message: /preset: Invalid enum value/ });
  t.throws(() => createPower({ type: 'preset', preset: 'usbrelay', vars: {} }), { message: /preset usbrelay needs relay, channel/ });
});
