// Reads the write log QEMU's blklogwrites driver keeps (the dm-log-writes format of Linux): a
// superblock sector (magic, version, entries counted at the last flush, sector size), then per
// guest request an entry sector (sector, nr_sectors, flags, data_len; little-endian u64s) followed
// by the request's data for writes and write-zeroes (not for discards and flushes). Only headers
// are read here: the data stays in the file and is copied out by offset when a crash image needs it.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export const LOG_MAGIC = 0x6a736677736872n;
export const LOG_VERSION = 1n;
export const FLAG_FLUSH = 1;
export const FLAG_FUA = 2;
export const FLAG_DISCARD = 4;
export const FLAG_MARK = 8;
const KNOWN_FLAGS = FLAG_FLUSH | FLAG_FUA | FLAG_DISCARD | FLAG_MARK;

export interface LogEntry {
  /** Position in the log, from 0. */
  index: number;
  kind: 'write' | 'flush' | 'discard' | 'mark';
  /** Byte offset on the disk and length in bytes (0 for a flush). */
  offset: number;
  length: number;
  /** FUA: the write was durable when it completed. */
  fua: boolean;
  /** Where the write's data starts in the log file (writes only). */
  dataAt: number;
}

export interface WriteLog {
  sectorSize: number;
  /** Entries the superblock counted at the last flush (QEMU updates it on flushes only). */
  superEntries: number;
  entries: LogEntry[];
  /** Bytes of an incomplete last entry (the log was cut while QEMU wrote it); those are ignored. */
  truncatedBytes: number;
}

export class WriteLogError extends Error {}

/** Parses the headers of a dm-log-writes log file. */
export function readWriteLog(file: string): WriteLog {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(32);
    const got = readSync(fd, head, 0, 28, 0);
    if (got < 28) throw new WriteLogError(`${file}: ${size} bytes, too short for a write log superblock`);
    if (head.readBigUInt64LE(0) !== LOG_MAGIC) throw new WriteLogError(`${file}: not a dm-log-writes log (magic 0x${head.readBigUInt64LE(0).toString(16)})`);
    const version = head.readBigUInt64LE(8);
    if (version !== LOG_VERSION) throw new WriteLogError(`${file}: log version ${version}, only ${LOG_VERSION} is known`);
    const superEntries = Number(head.readBigUInt64LE(16));
    const sectorSize = head.readUInt32LE(24);
    if (sectorSize < 512 || sectorSize > 1 << 20 || (sectorSize & (sectorSize - 1)) !== 0) throw new WriteLogError(`${file}: log sector size ${sectorSize} is not a power of two ≥ 512`);
    const entries: LogEntry[] = [];
    let at = sectorSize;
    let truncatedBytes = 0;
    while (at < size) {
      if (at + 32 > size) {
        truncatedBytes = size - at;
        break;
      }
      readSync(fd, head, 0, 32, at);
      const sector = head.readBigUInt64LE(0);
      const nrSectors = Number(head.readBigUInt64LE(8));
      const flags = Number(head.readBigUInt64LE(16));
      if ((flags & ~KNOWN_FLAGS) !== 0) throw new WriteLogError(`${file}: entry ${entries.length} at byte ${at} has unknown flags 0x${flags.toString(16)}`);
      const kind = flags & FLAG_FLUSH ? 'flush' : flags & FLAG_DISCARD ? 'discard' : flags & FLAG_MARK ? 'mark' : 'write';
      const length = nrSectors * sectorSize;
      const dataAt = at + sectorSize;
      const next = dataAt + (kind === 'write' ? length : 0);
      if (next > size) {
        truncatedBytes = size - at;
        break;
      }
      if (kind === 'flush' && length !== 0) throw new WriteLogError(`${file}: flush entry ${entries.length} covers ${length} bytes`);
      entries.push({ index: entries.length, kind, offset: Number(sector) * sectorSize, length, fua: (flags & FLAG_FUA) !== 0, dataAt });
      at = next;
    }
    if (entries.length < superEntries) throw new WriteLogError(`${file}: the superblock counts ${superEntries} entries, the file holds ${entries.length}`);
    return { sectorSize, superEntries, entries, truncatedBytes };
  } finally {
    closeSync(fd);
  }
}

/**
 * A log in the same format from a list of requests (tests, and logs made by hand): `data` of a
 * write must be a whole number of sectors.
 */
export function encodeWriteLog(requests: ({ kind: 'write'; offset: number; data: Buffer } | { kind: 'flush' } | { kind: 'discard'; offset: number; length: number })[], sectorSize = 512, superEntries = requests.length): Buffer {
  const parts: Buffer[] = [];
  const sb = Buffer.alloc(sectorSize);
  sb.writeBigUInt64LE(LOG_MAGIC, 0);
  sb.writeBigUInt64LE(LOG_VERSION, 8);
  sb.writeBigUInt64LE(BigInt(superEntries), 16);
  sb.writeUInt32LE(sectorSize, 24);
  parts.push(sb);
  for (const r of requests) {
    const h = Buffer.alloc(sectorSize);
    if (r.kind === 'write') {
      if (r.offset % sectorSize || r.data.length % sectorSize) throw new Error('encodeWriteLog: writes are whole sectors');
      h.writeBigUInt64LE(BigInt(r.offset / sectorSize), 0);
      h.writeBigUInt64LE(BigInt(r.data.length / sectorSize), 8);
      parts.push(h, r.data);
    } else if (r.kind === 'flush') {
      h.writeBigUInt64LE(BigInt(FLAG_FLUSH), 16);
      parts.push(h);
    } else {
      h.writeBigUInt64LE(BigInt(r.offset / sectorSize), 0);
      h.writeBigUInt64LE(BigInt(r.length / sectorSize), 8);
      h.writeBigUInt64LE(BigInt(FLAG_DISCARD), 16);
      parts.push(h);
    }
  }
  return Buffer.concat(parts);
}
