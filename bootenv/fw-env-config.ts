// Parser for /etc/fw_env.config, read the way libubootenv 0.3.x (Debian's fw_printenv/fw_setenv)
// reads it, so this client and the tools always look at the same bytes:
//   <device> <offset> <env size> [<sector size> [<sector count> [<disable mtd lock>]]]
// - offset is strtoll(base 0): 0x… hex, a leading 0 means octal, otherwise decimal; negative
//   counts back from the end of the device;
// - env size, sector size and count are scanned with %x: ALWAYS hex, with or without 0x, so
//   "16384" means 0x16384. We follow the tools and warn, because a size that disagreed with
//   fw_printenv would read a different CRC area than it does.
// - one line = single copy, two lines = redundant; both copies must have the same size.
// We are stricter than libubootenv where it silently skips or ignores a malformed line: a
// bring-up engineer gets an error with the line number instead of a wrong env location.
import { readFile } from 'node:fs/promises';
import { EnvError } from './types.js';

export interface FwEnvLocation {
  /** Device or file path as written (relative paths resolve against the cwd, as the tools do). */
  device: string;
  /** Byte offset; negative = from the end of the device. */
  offset: number;
  /** Env size in bytes, CRC and (redundant) flags byte included. */
  size: number;
  sectorSize?: number;
  sectorCount?: number;
  /** 1-based line in the config file. */
  line: number;
}

export interface FwEnvConfig {
  /** Where the config came from, named in every error about the env location. */
  path: string;
  copies: FwEnvLocation[];
  redundant: boolean;
  /** Things that parse but are probably not what was meant (octal offset, decimal-looking size). */
  warnings: string[];
}

const OFFSET_RE = /^[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/;
const HEX_RE = /^(0[xX])?[0-9a-fA-F]+$/;

function hex(n: number): string {
  return (n < 0 ? '-0x' : '0x') + Math.abs(n).toString(16);
}

function parseOffset(token: string): number {
  const neg = token.startsWith('-');
  const body = token.replace(/^[+-]/, '');
  let value: number;
  if (/^0[xX]/.test(body)) value = parseInt(body.slice(2), 16);
  else if (body.length > 1 && body.startsWith('0')) value = parseInt(body, 8);
  else value = parseInt(body, 10);
  return neg ? -value : value;
}

function parseHex(token: string): number {
  return parseInt(token.replace(/^0[xX]/, ''), 16);
}

export function parseFwEnvConfig(text: string, path = '<inline fw_env.config>'): FwEnvConfig {
  const copies: FwEnvLocation[] = [];
  const warnings: string[] = [];
  const fail = (line: number, msg: string): never => {
    throw new EnvError('CONFIG', `${path}:${line}: ${msg}`);
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!.replace(/\r$/, '');
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const tokens: string[] = [];
    for (const tok of trimmed.split(/\s+/)) {
      if (tok.startsWith('#')) break;
      tokens.push(tok);
    }
    if (/:$/.test(tokens[0]!) || /^[A-Za-z_-]+:/.test(tokens[0]!)) {
      fail(lineNo, `looks like the YAML config format, which this client does not read; use "<device> <offset> <size>" lines`);
    }
    if (tokens.length < 3) fail(lineNo, `expected "<device> <offset> <env size> [<sector size> [<sectors>]]", got "${trimmed}"`);
    if (tokens.length > 6) fail(lineNo, `too many fields (${tokens.length}); expected at most 6`);
    const [device, offTok, sizeTok, sectTok, countTok, lockTok] = tokens as [string, string, string, ...string[]];
    if (device.startsWith('/dev/mtd') || device.startsWith('/dev/ubi')) {
      fail(lineNo, `${device}: MTD/UBI env storage needs erase ioctls this client cannot issue; only files and block devices are supported`);
    }
    if (!OFFSET_RE.test(offTok)) fail(lineNo, `offset "${offTok}" is not a number (decimal, 0x hex or 0-prefixed octal)`);
    const offset = parseOffset(offTok);
    if (!Number.isSafeInteger(offset)) fail(lineNo, `offset "${offTok}" is out of range`);
    if (/^[+-]?0[0-7]+$/.test(offTok)) {
      warnings.push(`${path}:${lineNo}: offset "${offTok}" has a leading 0 and is read as octal (${hex(offset)}), as libubootenv does`);
    }
    if (!HEX_RE.test(sizeTok)) fail(lineNo, `env size "${sizeTok}" is not a hex number`);
    const size = parseHex(sizeTok);
    if (size === 0) fail(lineNo, `env size is zero`);
    if (size < 6) fail(lineNo, `env size ${hex(size)} leaves no room for CRC, flags and data`);
    if (!/^0[xX]/.test(sizeTok) && /^[0-9]+$/.test(sizeTok)) {
      warnings.push(
        `${path}:${lineNo}: env size "${sizeTok}" is read as hex ${hex(size)} (${size} bytes) as libubootenv does; ` +
          `write 0x${parseInt(sizeTok, 10).toString(16)} if ${sizeTok} bytes was meant`,
      );
    }
    const loc: FwEnvLocation = { device, offset, size, line: lineNo };
    if (sectTok !== undefined) {
      if (!HEX_RE.test(sectTok)) fail(lineNo, `sector size "${sectTok}" is not a hex number`);
      loc.sectorSize = parseHex(sectTok);
    }
    if (countTok !== undefined) {
      if (!HEX_RE.test(countTok)) fail(lineNo, `sector count "${countTok}" is not a hex number`);
      loc.sectorCount = parseHex(countTok);
    }
    if (lockTok !== undefined && !/^[+-]?[0-9]+$/.test(lockTok)) fail(lineNo, `"disable MTD lock" field "${lockTok}" is not a number`);
    if (copies.length === 2) fail(lineNo, `a third env location; fw_env.config holds one (single) or two (redundant) copies`);
    if (copies.length === 1 && copies[0]!.size !== size) {
      fail(lineNo, `env size ${hex(size)} differs from ${hex(copies[0]!.size)} on line ${copies[0]!.line}; redundant copies must have the same size`);
    }
    if (copies.length === 1) {
      const a = copies[0]!;
      if (a.device === device && a.offset < offset + size && offset < a.offset + a.size) {
        fail(lineNo, `this copy (${hex(offset)}+${hex(size)}) overlaps the copy on line ${a.line} (${hex(a.offset)}+${hex(a.size)})`);
      }
    }
    copies.push(loc);
  }
  if (copies.length === 0) throw new EnvError('CONFIG', `${path}: no env location found (expected "<device> <offset> <env size>")`);
  return { path, copies, redundant: copies.length === 2, warnings };
}

export async function readFwEnvConfig(path: string): Promise<FwEnvConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new EnvError('CONFIG', `cannot read ${path}: ${(err as Error).message}`);
  }
  return parseFwEnvConfig(text, path);
}

export { hex as formatHex };
