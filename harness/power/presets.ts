// Common power switches as data for ExternalCommandPower, so a board file can say
// `power: {type: preset, preset: uhubctl, vars: {hub: "1-1", port: 2}}`.
import type { ExternalCommandPowerOptions } from './external-command-power.js';
import type { TemplateVars } from './template.js';
import { templateKeys } from './template.js';

export interface CommandPreset {
  description: string;
  on: readonly string[];
  off: readonly string[];
}

export const COMMAND_PRESETS = {
  /** A port of a USB hub with per-port power switching (the board is powered from it). */
  uhubctl: {
    description: 'USB hub port power via uhubctl (-l hub location, -p port)',
    on: ['uhubctl', '-l', '{hub}', '-p', '{port}', '-a', 'on'],
    off: ['uhubctl', '-l', '{hub}', '-p', '{port}', '-a', 'off'],
  },
  /** A USB HID relay board; `relay` is the board serial and `channel` the relay number (`usbrelay -d` lists them). */
  usbrelay: {
    description: 'USB HID relay via usbrelay (SERIAL_CHANNEL=1|0)',
    on: ['usbrelay', '{relay}_{channel}=1'],
    off: ['usbrelay', '{relay}_{channel}=0'],
  },
  /**
   * A relay on a GPIO line, libgpiod 1.x syntax (`gpioset CHIP LINE=VALUE` sets the line and exits).
   * `on`/`off` are the line values that switch the relay, so active-low relays say on: 0, off: 1.
   */
  gpioset: {
    description: 'relay on a GPIO line via libgpiod 1.x gpioset',
    on: ['gpioset', '{chip}', '{line}={on}'],
    off: ['gpioset', '{chip}', '{line}={off}'],
  },
} as const satisfies Record<string, CommandPreset>;

export type CommandPresetName = keyof typeof COMMAND_PRESETS;

const DEFAULTS: Partial<Record<CommandPresetName, TemplateVars>> = { gpioset: { on: 1, off: 0 } };

export function presetOptions(preset: string, name: string, vars: TemplateVars = {}): ExternalCommandPowerOptions {
  if (!Object.hasOwn(COMMAND_PRESETS, preset)) {
    throw new Error(`power ${name}: unknown preset ${JSON.stringify(preset)} (known: ${Object.keys(COMMAND_PRESETS).join(', ')})`);
  }
  const p: CommandPreset = COMMAND_PRESETS[preset as CommandPresetName];
  const all = { ...DEFAULTS[preset as CommandPresetName], ...vars };
  const missing = [...new Set([...p.on, ...p.off].flatMap(templateKeys))].filter((k) => all[k] === undefined);
  if (missing.length > 0) throw new Error(`power ${name}: preset ${preset} needs ${missing.join(', ')}`);
  return { name, on: p.on, off: p.off, vars: all };
}
