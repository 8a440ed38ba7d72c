// Builds a console from the board file's console section, so boards stay data:
//   { type: serial, path: /dev/ttyUSB0, baud: 115200, charDelayMs: 10 }
//   { type: ser2net, host: lab-pi, port: 3001, telnet: true }
//   { type: unix, path: /tmp/run/console.sock }
//   { type: process, command: [script, -qfec, picocom /dev/ttyACM0, /dev/null] }
//   { type: deviceconnect, server: https://flipside:8443, device: 7f3c…, tokenFile: ~/.flipside-token }
import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { DeviceConnectTransport, resolveToken } from './deviceconnect-transport.js';
import { ProcessTransport } from './process-transport.js';
import { SerialTransport } from './serial-transport.js';
import { StreamConsole } from './stream-console.js';
import { TcpTransport } from './tcp-transport.js';
import type { ConsoleTransport } from './transport.js';
import { UnixSocketTransport } from './unix-transport.js';

const common = {
  name: z.string().min(1).optional(),
  charDelayMs: z.number().nonnegative().optional(),
  transcriptPath: z.string().min(1).optional(),
  /** Keep re-opening a lost link every this many ms (serial defaults to 250; others do not reconnect). */
  reconnectIntervalMs: z.number().int().positive().optional(),
};

export const consoleSpecSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('serial'), path: z.string().min(1), baud: z.number().int().positive().default(115200), ...common }).strict(),
  z
    .object({
      type: z.literal('ser2net'),
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(1).max(65535),
      telnet: z.boolean().default(false),
      ...common,
    })
    .strict(),
  z.object({ type: z.literal('unix'), path: z.string().min(1), ...common }).strict(),
  z
    .object({
      type: z.literal('process'),
      // A string is split on spaces; use an array when arguments contain spaces.
      command: z.union([z.string().min(1).transform((s) => s.split(/\s+/).filter(Boolean)), z.array(z.string()).min(1)]),
      ...common,
    })
    .strict(),
  z
    .object({
      type: z.literal('deviceconnect'),
      /** The Flipside (or Mender) server's base URL. */
      server: z.string().url().refine((u) => /^https?:/.test(u), 'must be an http:// or https:// URL'),
      /** The device's id on the server. */
      device: z.string().min(1),
      /** A management API token; prefer tokenFile or tokenEnv (default FLIPSIDE_TOKEN) over a token in the board file. */
      token: z.string().min(1).optional(),
      tokenFile: z.string().min(1).optional(),
      tokenEnv: z.string().min(1).optional(),
      /** PEM file of the CA the server's certificate chains to (flipside-server's data-dir/tls/ca.crt). */
      ca: z.string().min(1).optional(),
      ...common,
    })
    .strict(),
]);

export type ConsoleSpec = z.input<typeof consoleSpecSchema>;

export function transportFor(spec: z.output<typeof consoleSpecSchema>): ConsoleTransport {
  switch (spec.type) {
    case 'serial':
      return new SerialTransport(spec.path, spec.baud, spec.reconnectIntervalMs ?? 250);
    case 'ser2net':
      return new TcpTransport(spec.host, spec.port, spec.telnet ? 'telnet' : 'raw', spec.reconnectIntervalMs);
    case 'unix':
      return new UnixSocketTransport(spec.path, spec.reconnectIntervalMs);
    case 'process':
      return new ProcessTransport(spec.command);
    case 'deviceconnect': {
      const what = `deviceconnect console for device ${spec.device}`;
      let ca: string | undefined;
      if (spec.ca) {
        try {
          ca = readFileSync(spec.ca, 'utf8');
        } catch (e) {
          throw new Error(`${what}: cannot read the CA file ${spec.ca}: ${(e as Error).message}`, { cause: e });
        }
      }
      return new DeviceConnectTransport({ server: spec.server, device: spec.device, token: resolveToken(spec, what), ...(ca ? { ca } : {}) }, spec.reconnectIntervalMs);
    }
  }
}

/** Validates `spec` (a clear error names the bad field) and returns an unopened console. */
export function createConsole(spec: unknown): StreamConsole {
  const parsed = consoleSpecSchema.safeParse(spec);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`).join('; ');
    throw new Error(`invalid console spec: ${issues}`);
  }
  const s = parsed.data;
  return new StreamConsole(transportFor(s), { name: s.name, charDelayMs: s.charDelayMs, transcriptPath: s.transcriptPath });
}

/** createConsole() then open(). */
export async function openConsole(spec: unknown): Promise<StreamConsole> {
  const con = createConsole(spec);
  await con.open();
  return con;
}
