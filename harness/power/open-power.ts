// Builds a Power driver from a board file's power section, checked so mistakes name the field:
//   {type: command, on: [relay, 3, on], off: [relay, 3, off]}
//   {type: preset, preset: uhubctl, vars: {hub: 1-1, port: 2}}
//   {type: http, preset: netio, vars: {host: 10.0.0.9, outlet: 2}, auth: {user: admin, password: x}}
//   {type: manual}
import { z } from 'zod';
import type { Power } from '../types.js';
import { ExternalCommandPower } from './external-command-power.js';
import { HTTP_PDU_PRESETS, HttpPduPower } from './http-pdu-power.js';
import { ManualPower } from './manual-power.js';
import { presetOptions } from './presets.js';

const vars = z.record(z.union([z.string(), z.number()])).default({});
const command = z.union([z.string().min(1), z.array(z.string()).min(1)]);
const request = z
  .object({
    url: z.string().min(1),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH']).optional(),
    headers: z.record(z.string()).optional(),
    body: z.string().optional(),
  })
  .strict();

export const powerSpecSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('command'), name: z.string().optional(), on: command, off: command, vars, timeoutMs: z.number().int().positive().optional() }).strict(),
  z.object({ type: z.literal('preset'), name: z.string().optional(), preset: z.string(), vars, timeoutMs: z.number().int().positive().optional() }).strict(),
  z
    .object({
      type: z.literal('http'),
      name: z.string().optional(),
      preset: z.enum(Object.keys(HTTP_PDU_PRESETS) as [keyof typeof HTTP_PDU_PRESETS]).optional(),
      on: request.optional(),
      off: request.optional(),
      vars,
      auth: z.object({ user: z.string(), password: z.string() }).strict().optional(),
      timeoutMs: z.number().int().positive().optional(),
    })
    .strict(),
  z.object({ type: z.literal('manual'), name: z.string().optional() }).strict(),
]);

export function createPower(spec: unknown, boardName = 'board'): Power {
  const parsed = powerSpecSchema.safeParse(spec);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`).join('; ');
    throw new Error(`invalid power spec for ${boardName}: ${issues}`);
  }
  const s = parsed.data;
  const name = s.name ?? boardName;
  switch (s.type) {
    case 'command':
      return new ExternalCommandPower({ name, on: s.on, off: s.off, vars: s.vars, timeoutMs: s.timeoutMs });
    case 'preset':
      return new ExternalCommandPower({ ...presetOptions(s.preset, name, s.vars), timeoutMs: s.timeoutMs });
    case 'http': {
      if (s.preset === undefined && (s.on === undefined || s.off === undefined)) {
        throw new Error(`invalid power spec for ${boardName}: http power needs a preset or both on and off requests`);
      }
      const preset = s.preset ? HTTP_PDU_PRESETS[s.preset] : undefined;
      return new HttpPduPower({ name, on: s.on ?? preset!.on, off: s.off ?? preset!.off, vars: s.vars, auth: s.auth, timeoutMs: s.timeoutMs });
    }
    case 'manual':
      return new ManualPower({ name });
  }
}
