// Minimal POSIX tar: a streaming reader over ByteSource that validates every header (checksum,
// type, size, path safety) and an encoder that writes headers byte-for-byte the way Go's
// archive/tar does for mender-artifact (ustar, 7-digit octal mode/uid/gid, 11-digit size/mtime).
import { ArtifactError } from './errors.js';
import type { ByteSource } from './byte-source.js';

export const BLOCK = 512;

export interface TarHeader {
  name: string;
  mode: number;
  size: number;
  mtime: Date;
  type: 'file' | 'directory' | 'other';
}

export interface TarHeaderInput {
  name: string;
  size: number;
  mode?: number;
  mtime?: Date | number;
  /** mender-artifact writes "root"/"root" for some members and nothing for others. */
  owner?: 'root' | '';
}

function octal(value: number, width: number): string {
  // width includes the trailing NUL, as Go writes it.
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function splitUstarName(name: string): { prefix: string; base: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', base: name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const base = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(base) <= 100 && base.length > 0) return { prefix, base };
  }
  throw new ArtifactError('BAD_HEADER', `tar name too long for ustar: ${name}`);
}

export function encodeHeader(h: TarHeaderInput): Buffer {
  const b = Buffer.alloc(BLOCK);
  const { prefix, base } = splitUstarName(h.name);
  const mtime = h.mtime instanceof Date ? Math.floor(h.mtime.getTime() / 1000) : Math.floor(h.mtime ?? 0);
  if (!Number.isSafeInteger(h.size) || h.size < 0) throw new ArtifactError('TOO_LARGE', `member ${h.name} has an impossible size`);
  b.write(base, 0, 100, 'utf8');
  b.write(octal(h.mode ?? 0o600, 8), 100, 'ascii');
  b.write(octal(0, 8), 108, 'ascii');
  b.write(octal(0, 8), 116, 'ascii');
  if (h.size <= 0o77777777777) b.write(octal(h.size, 12), 124, 'ascii');
  else {
    // Over 8 GiB: GNU base-256 (0x80 marker, big-endian value), which Go and GNU tar read.
    b[124] = 0x80;
    b.writeUIntBE(Math.floor(h.size / 2 ** 32), 128, 4);
    b.writeUInt32BE(h.size % 2 ** 32, 132);
  }
  b.write(octal(mtime, 12), 136, 'ascii');
  b.write('        ', 148, 'ascii');
  b.write('0', 156, 'ascii');
  b.write('ustar\u000000', 257, 'ascii');
  if (h.owner === 'root') {
    b.write('root', 265, 'ascii');
    b.write('root', 297, 'ascii');
  }
  b.write(octal(0, 8), 329, 'ascii');
  b.write(octal(0, 8), 337, 'ascii');
  if (prefix) b.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(octal(sum, 7) + ' ', 148, 'ascii');
  return b;
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

function cstr(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len);
  const z = s.indexOf(0);
  return (z === -1 ? s : s.subarray(0, z)).toString('utf8');
}

function parseNumber(b: Buffer, start: number, len: number, field: string): number {
  const s = b.subarray(start, start + len);
  if (s[0]! & 0x80) {
    // GNU base-256 for values that do not fit in octal (payloads over 8 GiB).
    let v = 0;
    for (let i = 1; i < s.length; i++) v = v * 256 + s[i]!;
    if (s[0]! & 0x40) throw new ArtifactError('BAD_HEADER', `negative tar ${field}`);
    v += (s[0]! & 0x3f) * 256 ** (s.length - 1);
    if (!Number.isSafeInteger(v)) throw new ArtifactError('TOO_LARGE', `tar ${field} too large`);
    return v;
  }
  const t = s.toString('ascii').replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (t === '') return 0;
  if (!/^[0-7]+$/.test(t)) throw new ArtifactError('BAD_HEADER', `tar ${field} is not octal: ${JSON.stringify(t)}`);
  return parseInt(t, 8);
}

function checksumOk(b: Buffer): boolean {
  const stored = b.subarray(148, 156).toString('ascii').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(stored)) return false;
  const want = parseInt(stored, 8);
  let unsigned = 256; // the checksum field counts as eight spaces
  let signed = 256;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    unsigned += b[i]!;
    signed += (b[i]! << 24) >> 24;
  }
  return want === unsigned || want === signed;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp === -1) throw new ArtifactError('BAD_HEADER', 'malformed pax record');
    const len = parseInt(data.subarray(off, sp).toString('ascii'), 10);
    if (!Number.isSafeInteger(len) || len <= sp - off || off + len > data.length) throw new ArtifactError('BAD_HEADER', 'malformed pax record length');
    const rec = data.subarray(sp + 1, off + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq === -1) throw new ArtifactError('BAD_HEADER', 'malformed pax record');
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

/** Rejects names that could escape an extraction directory, whatever the consumer does with them. */
export function checkSafeName(name: string, where: string): void {
  if (name === '' || name.startsWith('/') || name.includes('\\') || name.includes('\0') || name.split('/').some((p) => p === '..')) {
    throw new ArtifactError('UNSAFE_PATH', `unsafe path ${JSON.stringify(name)} in ${where}`);
  }
}

/**
 * Reads tar members one at a time. The caller must consume (or skip) each member's body before
 * asking for the next header; `body()` streams it straight from the source.
 */
export class TarReader {
  private bodyLeft = 0;
  private padLeft = 0;
  private done = false;
  private first = true;

  constructor(private readonly src: ByteSource, private readonly what: string, private readonly maxMetaBytes = 1 << 20) {}

  async next(): Promise<TarHeader | null> {
    if (this.done) return null;
    if (this.bodyLeft > 0) await this.src.skip(this.bodyLeft);
    this.bodyLeft = 0;
    if (this.padLeft > 0) await this.src.skip(this.padLeft);
    this.padLeft = 0;
    let paxName: string | undefined;
    let paxSize: number | undefined;
    let longName: string | undefined;
    for (;;) {
      const block = await this.src.readExact(BLOCK);
      if (block === null) {
        throw new ArtifactError('TRUNCATED', `${this.what} ends without the end-of-archive marker`);
      }
      if (block.every((x) => x === 0)) {
        // End of archive: two zero blocks, as Go's archive/tar insists too.
        const second = await this.src.readExact(BLOCK);
        if (second === null) throw new ArtifactError('TRUNCATED', `${this.what} ends inside the end-of-archive marker`);
        if (!second.every((x) => x === 0)) throw new ArtifactError('BAD_HEADER', `${this.what}: corrupt end-of-archive marker`);
        this.done = true;
        return null;
      }
      if (!checksumOk(block)) {
        if (this.first) throw new ArtifactError('NOT_TAR', `${this.what} is not a tar archive (bad header checksum)`);
        throw new ArtifactError('BAD_HEADER', `${this.what}: corrupt tar header (checksum mismatch) at offset ${this.src.position - BLOCK}`);
      }
      this.first = false;
      const typeflag = String.fromCharCode(block[156]!);
      const size = parseNumber(block, 124, 12, 'size');
      if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L') {
        if (size > this.maxMetaBytes) throw new ArtifactError('TOO_LARGE', `${this.what}: extended tar header of ${size} bytes`);
        const data = (await this.src.readExact(size)) ?? Buffer.alloc(0);
        if (data.length < size) throw new ArtifactError('TRUNCATED', `${this.what}: truncated extended header`);
        await this.src.skip(padding(size));
        if (typeflag === 'x') {
          const pax = parsePax(Buffer.from(data));
          if (pax.path !== undefined) paxName = pax.path;
          if (pax.size !== undefined) {
            paxSize = Number(pax.size);
            if (!Number.isSafeInteger(paxSize) || paxSize < 0) throw new ArtifactError('BAD_HEADER', `${this.what}: bad pax size`);
          }
        } else if (typeflag === 'L') {
          longName = cstr(Buffer.from(data), 0, data.length);
        }
        continue;
      }
      const magic = block.subarray(257, 263).toString('ascii');
      let name = cstr(block, 0, 100);
      if (magic === 'ustar\0') {
        const prefix = cstr(block, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      name = paxName ?? longName ?? name;
      const realSize = paxSize ?? size;
      const type = typeflag === '0' || typeflag === '\0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'directory' : 'other';
      const hdr: TarHeader = {
        name,
        mode: parseNumber(block, 100, 8, 'mode'),
        size: type === 'file' ? realSize : 0,
        mtime: new Date(parseNumber(block, 136, 12, 'mtime') * 1000),
        type,
      };
      if (type !== 'file' && realSize > 0 && typeflag !== '1' && typeflag !== '2') {
        // Directories etc. carry no data; anything else with data would desynchronise us.
        throw new ArtifactError('BAD_HEADER', `${this.what}: member ${name} of type ${JSON.stringify(typeflag)} has data`);
      }
      this.bodyLeft = hdr.size;
      this.padLeft = padding(hdr.size);
      return hdr;
    }
  }

  /** Streams the current member's body. */
  async *body(): AsyncGenerator<Buffer> {
    for await (const chunk of this.src.take(this.bodyLeft)) {
      this.bodyLeft -= chunk.length;
      yield chunk;
    }
  }

  /** The current member's body in memory, refused above `cap` bytes. */
  async readAll(cap: number, label: string): Promise<Buffer> {
    if (this.bodyLeft > cap) throw new ArtifactError('TOO_LARGE', `${label} is ${this.bodyLeft} bytes, over the ${cap}-byte limit`);
    const n = this.bodyLeft;
    this.bodyLeft = 0;
    if (n === 0) return Buffer.alloc(0);
    const b = await this.src.readExact(n);
    if (b === null) throw new ArtifactError('TRUNCATED', `${this.what} ends inside ${label}`);
    return Buffer.from(b);
  }
}
