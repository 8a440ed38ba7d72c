export { SwitchedPower } from './switched-power.js';
export { ExternalCommandPower, type ExternalCommandPowerOptions, type CommandTemplate } from './external-command-power.js';
export { ManualPower, type ManualPowerOptions } from './manual-power.js';
export { HttpPduPower, HTTP_PDU_PRESETS, type HttpPduPowerOptions, type HttpRequestTemplate } from './http-pdu-power.js';
export { COMMAND_PRESETS, presetOptions, type CommandPresetName } from './presets.js';
export { createPower, powerSpecSchema } from './open-power.js';
