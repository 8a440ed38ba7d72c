// boards/host-sim.yaml as typed data: the host-sim board takes its layout, env location and
// boot variables from it, so the YAML is what the simulation really is.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';

const hex = z.string().regex(/^0x[0-9a-fA-F]+$/).transform((s) => Number.parseInt(s, 16));

export const hostSimSpecSchema = z.object({
  name: z.literal('host-sim'),
  description: z.string(),
  deviceType: z.string().min(1),
  bootloader: z.object({
    type: z.literal('uboot'),
    bootlimit: z.number().int().nonnegative(),
    vars: z.object({ bootPart: z.string(), upgradeAvailable: z.string(), bootCount: z.string(), bootLimit: z.string() }),
    values: z.object({ A: z.string(), B: z.string() }),
  }),
  disk: z.object({
    rootfsA: z.object({ file: z.string(), sizeMiB: z.number().positive() }),
    rootfsB: z.object({ file: z.string(), sizeMiB: z.number().positive() }),
    data: z.object({ dir: z.string() }),
  }),
  env: z.object({ file: z.string(), offsets: z.tuple([hex, hex]), size: hex }),
  client: z.object({
    runner: z.enum(['bundle', 'tsx']),
    activePartitionFrom: z.enum(['cmdline', 'mount']),
    cmdline: z.string(),
    consoleStateLog: z.string(),
  }),
  power: z.object({ driver: z.literal('sigkill') }),
  capabilities: z.array(z.string()),
});
export type HostSimSpec = z.infer<typeof hostSimSpecSchema>;

export const HOST_SIM_YAML = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'boards', 'host-sim.yaml');

export function loadHostSimSpec(path: string = HOST_SIM_YAML): HostSimSpec {
  const r = hostSimSpecSchema.safeParse(parse(readFileSync(path, 'utf8')));
  if (!r.success) {
    throw new Error(`${path}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}
