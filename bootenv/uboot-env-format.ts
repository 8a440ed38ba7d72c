// The U-Boot env blob, byte for byte as U-Boot's saveenv and libubootenv lay it out:
//   u32 CRC32 (little-endian) of the data area | [u8 flags, redundant envs only] | data area
// The data area is `name=value\0` pairs sorted by name (U-Boot and libubootenv both sort), ended
// by an empty string (so the last pair is followed by `\0\0`), then padding up to the env size.
// The CRC covers the padding too, so any pad byte is valid: U-Boot's env export zero-fills,
// mkenvimage pads with 0xff, and libubootenv 0.3.x leaves whatever its heap buffer held (in
// practice the previous copy's bytes). We zero-fill, as U-Boot does.
// Names and values are kept as raw bytes (Buffer) so a write never alters a variable it was not
// asked to change, whatever its encoding; the JS-facing side decodes them as UTF-8.
import { crc32 } from './crc32.js';
import { formatHex as hex } from './fw-env-config.js';
import { EnvError, type EnvVars } from './types.js';

/** Raw variables keyed by the name's bytes as a latin1 string (1:1 with the bytes, sorts like strcmp). */
export type RawVars = Map<string, Buffer>;

export function headerSize(redundant: boolean): number {
  return redundant ? 5 : 4;
}

export interface CopyCheck {
  crcOk: boolean;
  storedCrc: number;
  computedCrc: number;
  /** Flags byte of a redundant copy, null for a single copy. */
  flag: number | null;
}

export function checkCopy(blob: Buffer, redundant: boolean): CopyCheck {
  const storedCrc = blob.readUInt32LE(0);
  const computedCrc = crc32(blob.subarray(headerSize(redundant)));
  return { crcOk: storedCrc === computedCrc, storedCrc, computedCrc, flag: redundant ? blob[4]! : null };
}

/**
 * Which of two redundant copies is current, libubootenv's and U-Boot's rule for incremental
 * flags: only valid copies count; of two valid ones the higher flag wins, except that 0 after
 * 0xff (the counter wrapped) wins over 0xff; equal flags pick copy 0.
 */
export function chooseCurrent(valid: [boolean, boolean], flags: [number, number]): 0 | 1 | null {
  if (valid[0] && !valid[1]) return 0;
  if (!valid[0] && valid[1]) return 1;
  if (!valid[0] && !valid[1]) return null;
  const [f0, f1] = flags;
  if (f0 === 0xff && f1 === 0) return 1;
  if (f1 === 0xff && f0 === 0) return 0;
  return f1 > f0 ? 1 : 0;
}

export function nextFlag(flag: number): number {
  return (flag + 1) & 0xff;
}

/** Variables of a copy whose CRC was checked. Stops at the empty string; skips entries without '=' or with an empty name, as libubootenv does. */
export function decodeVars(blob: Buffer, redundant: boolean): RawVars {
  const vars: RawVars = new Map();
  const data = blob.subarray(headerSize(redundant));
  let pos = 0;
  while (pos < data.length && data[pos] !== 0) {
    let end = data.indexOf(0, pos);
    if (end < 0) end = data.length;
    const entry = data.subarray(pos, end);
    const eq = entry.indexOf(0x3d);
    if (eq > 0) vars.set(entry.subarray(0, eq).toString('latin1'), Buffer.from(entry.subarray(eq + 1)));
    pos = end + 1;
  }
  return vars;
}

export function toEnvVars(raw: RawVars): EnvVars {
  const out: EnvVars = {};
  for (const [k, v] of raw) out[Buffer.from(k, 'latin1').toString('utf8')] = v.toString('utf8');
  return out;
}

export function fromEnvVars(vars: EnvVars): RawVars {
  return applyChanges(new Map(), vars);
}

/** A copy of `vars` with `changes` applied (null removes). Throws BAD_VARIABLE before changing anything. */
export function applyChanges(vars: RawVars, changes: Record<string, string | null>): RawVars {
  const out = new Map(vars);
  for (const [name, value] of Object.entries(changes)) {
    if (name === '') throw new EnvError('BAD_VARIABLE', 'u-boot env: empty variable name');
    if (name.includes('=') || name.includes('\0')) {
      throw new EnvError('BAD_VARIABLE', `u-boot env: variable name ${JSON.stringify(name)} contains '=' or NUL`);
    }
    if (value !== null && typeof value !== 'string') {
      throw new EnvError('BAD_VARIABLE', `u-boot env: value of ${JSON.stringify(name)} must be a string or null`);
    }
    if (value !== null && value.includes('\0')) {
      throw new EnvError('BAD_VARIABLE', `u-boot env: value of ${JSON.stringify(name)} contains NUL`);
    }
    const key = Buffer.from(name, 'utf8').toString('latin1');
    if (value === null) out.delete(key);
    else out.set(key, Buffer.from(value, 'utf8'));
  }
  return out;
}

/** The full `size`-byte blob for one copy. Throws TOO_LARGE when the pairs do not fit. */
export function encodeBlob(vars: RawVars, size: number, redundant: boolean, flag: number): Buffer {
  const hdr = headerSize(redundant);
  const names = [...vars.keys()].sort();
  let needed = 1; // the empty string that ends the list
  for (const name of names) needed += name.length + 1 + vars.get(name)!.length + 1;
  if (needed > size - hdr) {
    throw new EnvError(
      'TOO_LARGE',
      `u-boot env: the variables need ${needed} bytes but the env holds ${size - hdr} (size ${hex(size)} minus ${hdr}-byte header); nothing written`,
    );
  }
  const blob = Buffer.alloc(size, 0);
  let pos = hdr;
  for (const name of names) {
    pos += blob.write(name, pos, 'latin1');
    blob[pos++] = 0x3d;
    pos += vars.get(name)!.copy(blob, pos);
    blob[pos++] = 0;
  }
  if (redundant) blob[4] = flag & 0xff;
  blob.writeUInt32LE(crc32(blob.subarray(hdr)), 0);
  return blob;
}

export type BlobKind = 'corrupt' | 'blank' | 'other-layout' | 'foreign' | 'short';

export interface BlobDiagnosis {
  kind: BlobKind;
  detail: string;
}

const PROBE_SIZES = [0x400, 0x800, 0x1000, 0x2000, 0x4000, 0x8000, 0x10000, 0x20000, 0x40000];
/** How many bytes diagnoseBlob may look at beyond the configured size. */
export const PROBE_BYTES = PROBE_SIZES[PROBE_SIZES.length - 1]!;

// Env-like: NUL-separated entries ended by an empty string, at least one of them `name=value`,
// or several of them all text (a flipped '=' still reads as a damaged env, while erased flash,
// a kernel, or a text file in a filesystem cluster - one entry - does not).
function looksLikeEnvText(data: Buffer): boolean {
  let pos = 0;
  let entries = 0;
  let anyPair = false;
  let allText = true;
  while (pos < data.length && entries < 64) {
    const end = data.indexOf(0, pos);
    if (end < 0) return false;
    if (end === pos) break;
    const entry = data.subarray(pos, end);
    entries++;
    const eq = entry.indexOf(0x3d);
    if (eq > 0 && entry.subarray(0, eq).every((b) => b > 0x20 && b < 0x7f)) anyPair = true;
    if (!entry.every((b) => b >= 0x20 || b === 0x09 || b === 0x0a)) allText = false;
    pos = end + 1;
  }
  return (anyPair || (allText && entries >= 2)) && (pos < data.length || entries === 64);
}

/**
 * Why a copy whose CRC failed is not a usable env, to tell a bring-up engineer whether the
 * config points at the wrong place (blank, foreign bytes, an env of another size/layout) or at a
 * real env that got damaged. `raw` starts at the configured offset and may extend past `size`
 * (up to PROBE_BYTES) so other env sizes can be tried.
 */
export function diagnoseBlob(raw: Buffer, size: number, redundant: boolean): BlobDiagnosis {
  if (raw.length < size) {
    return { kind: 'short', detail: `only ${raw.length} bytes exist there before the end of the device/file, the env needs ${hex(size)}` };
  }
  const area = raw.subarray(0, size);
  if (area.every((b) => b === 0xff) || area.every((b) => b === 0)) {
    return { kind: 'blank', detail: `the area is blank (all ${hex(area[0]!)}): nothing has saved an env there` };
  }
  for (const hdr of [4, 5]) {
    for (const probe of PROBE_SIZES) {
      if (probe > raw.length || (probe === size && hdr === headerSize(redundant))) continue;
      if (crc32(raw.subarray(hdr, probe)) === raw.readUInt32LE(0)) {
        const layout = hdr === 5 ? 'redundant (with flags byte)' : 'single-copy (no flags byte)';
        const configured = redundant ? 'redundant' : 'single-copy';
        return {
          kind: 'other-layout',
          detail: `a valid ${layout} env of size ${hex(probe)} is there, but the config says ${configured} with size ${hex(size)}`,
        };
      }
    }
  }
  const stored = raw.readUInt32LE(0);
  const computed = crc32(area.subarray(headerSize(redundant)));
  if (looksLikeEnvText(area.subarray(4)) || looksLikeEnvText(area.subarray(5))) {
    return {
      kind: 'corrupt',
      detail: `CRC mismatch (stored ${hex(stored)}, computed ${hex(computed)}) over data that looks like an env: a torn write or corruption`,
    };
  }
  return {
    kind: 'foreign',
    detail: `no env here: the bytes start ${area.subarray(0, 16).toString('hex').replace(/(..)/g, '$1 ').trim()}, not a CRC and key=value text`,
  };
}
