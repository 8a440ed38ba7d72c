import test from 'ava';
import { COMMAND_PRESETS, presetOptions } from './presets.js';
import { ExternalCommandPower } from './external-command-power.js';

test('presets expand to concrete command lines', (t) => {
  const filled = (preset: string, vars: Record<string, string | number>) => {
    const o = presetOptions(preset, 'b', vars);
    const fill = (argv: readonly string[]) => argv.map((a) => a.replace(/\{(\w+)\}/g, (_, k: string) => String(o.vars![k]))).join(' ');
    return [fill(o.on as string[]), fill(o.off as string[])];
  };
  t.deepEqual(filled('uhubctl', { hub: '1-1', port: 2 }), ['uhubctl -l 1-1 -p 2 -a on', 'uhubctl -l 1-1 -p 2 -a off']);
  t.deepEqual(filled('usbrelay', { relay: 'HURTM', channel: 1 }), ['usbrelay HURTM_1=1', 'usbrelay HURTM_1=0']);
  t.deepEqual(filled('gpioset', { chip: 'gpiochip0', line: 17 }), ['gpioset gpiochip0 17=1', 'gpioset gpiochip0 17=0']);
  t.deepEqual(filled('gpioset', { chip: 'gpiochip0', line: 17, on: 0, off: 1 }), ['gpioset gpiochip0 17=0', 'gpioset gpiochip0 17=1']);
  t.notThrows(() => new ExternalCommandPower(presetOptions('uhubctl', 'b', { hub: '1-1', port: 2 })));
  t.true(Object.values(COMMAND_PRESETS).every((p) => p.description.length > 0));
});

test('unknown presets and missing values are named', (t) => {
  t.throws(() => presetOptions('ykush', 'b'), { message: /power b: unknown preset "ykush" \(known: uhubctl, usbrelay, gpioset\)/ });
  t.throws(() => presetOptions('uhubctl', 'b', { hub: '1-1' }), { message: 'power b: preset uhubctl needs port' });
  t.throws(() => presetOptions('toString', 'b'), { message: /unknown preset/ });
});
