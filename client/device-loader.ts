// The start-up loader at the top of the device bundle (client/build-device.ts puts the bundle's
// source after it as one string literal). Debian's Node 18 has no built-in code cache, so every
// start compiles the 1 MB bundle from source: under qemu-aarch64 that was a fifth of the client's
// start-up CPU. The loader compiles the source through vm.Script with a V8 code cache kept on the
// data partition, written by the first run of each bundle on the device itself (the cache holds
// V8 bytecode: it is only valid for the same V8 version, flags and source).
// The cache can only make a start faster, never break one: a missing, truncated, corrupt (own
// checksum: V8's release builds check none) or rejected cache falls back to compiling from source
// and is rewritten (temp file + rename) when the process exits or after a minute of running.
// Self-contained on purpose (Node builtins only), built for Node 18 like the bundle.
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';

/** The bundle as the loader receives it: `source` is a CommonJS function expression. */
export interface DeviceBundle {
  /** Content hash of the source, from the build: names the cache file. */
  id: string;
  source: string;
}

export type CodeCacheStatus = 'off' | 'miss' | 'hit' | 'rejected' | 'corrupt';

/** The parameters Node gives a CommonJS module; the bundle's source is wrapped in them. */
export const MODULE_WRAPPER = ['(function (exports, require, module, __filename, __dirname) {', '\n})'] as const;

/** On the image /var/lib/flipside links to the data partition (the root filesystem is read-only). */
export const DEFAULT_STATE_DIR = '/var/lib/flipside';
const CACHE_SUBDIR = 'code-cache';
const MAGIC = Buffer.from('FSVCC01\n', 'latin1');
const HEADER = MAGIC.length + 8;
const WRITE_AFTER_MS = 60_000;

/**
 * 32-bit hash of every byte: each step is a bijection of the running value, so a change confined
 * to one 4-byte word always changes the result (corruption check, not a security measure).
 */
export function checksum(b: Uint8Array): number {
  const words = b.byteOffset % 4 === 0 ? new Int32Array(b.buffer, b.byteOffset, b.length >>> 2) : new Int32Array(Uint8Array.from(b.subarray(0, b.length & ~3)).buffer);
  let h = 0x811c9dc5 ^ b.length;
  for (let i = 0; i < words.length; i++) {
    h = Math.imul(h ^ words[i]!, 0x9e3779b1);
    h ^= h >>> 16;
  }
  for (let i = b.length & ~3; i < b.length; i++) {
    h = Math.imul(h ^ b[i]!, 0x9e3779b1);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** The file's bytes: magic, payload length, checksum, V8's cached data. */
export function encodeCache(data: Uint8Array): Buffer {
  const head = Buffer.alloc(HEADER);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(data.length, MAGIC.length);
  head.writeUInt32LE(checksum(data), MAGIC.length + 4);
  return Buffer.concat([head, data]);
}

/** V8's cached data from a cache file, or null when the file is not one or is damaged. */
export function decodeCache(file: Buffer): Buffer | null {
  if (file.length < HEADER || !file.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  const length = file.readUInt32LE(MAGIC.length);
  if (file.length !== HEADER + length) return null;
  const data = file.subarray(HEADER);
  return checksum(data) === file.readUInt32LE(MAGIC.length + 4) ? data : null;
}

/**
 * The cache file for this bundle under this Node: V8 rejects a cache made with other flags, so
 * runs with different flags (--cpu-prof, NODE_OPTIONS) keep their own file instead of rewriting one.
 */
export function cacheFileName(bundleId: string, node: { version: string; arch: string; flags: string }): string {
  const flags = node.flags ? `-${checksum(Buffer.from(node.flags)).toString(16).padStart(8, '0')}` : '';
  return `flipside-${bundleId}-${node.version}-${node.arch}${flags}.vmcache`;
}

/**
 * Where the cache lives: FLIPSIDE_CODE_CACHE_DIR (empty turns the cache off), otherwise a folder
 * in /var/lib/flipside when that exists (on a device, not on a development machine).
 */
export function cacheDir(env: NodeJS.ProcessEnv, stateDir = DEFAULT_STATE_DIR): string | null {
  const configured = env.FLIPSIDE_CODE_CACHE_DIR;
  if (configured !== undefined) return configured === '' ? null : configured;
  try {
    return statSync(stateDir).isDirectory() ? join(stateDir, CACHE_SUBDIR) : null;
  } catch {
    return null;
  }
}

function readCache(file: string): { data?: Buffer; corrupt: boolean } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return { corrupt: false };
  }
  const data = decodeCache(bytes);
  return data ? { data, corrupt: false } : { corrupt: true };
}

/**
 * Writes the cache atomically and drops the files of other bundles (one cache per device) and
 * temp files a power cut left behind.
 */
function writeCache(dir: string, name: string, data: Buffer): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, encodeCache(data));
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    throw e;
  }
  for (const other of readdirSync(dir)) {
    if (other !== name && other.startsWith('flipside-') && /\.vmcache(\.tmp-\d+)?$/.test(other)) {
      try {
        unlinkSync(join(dir, other));
      } catch {
        // another process removed it first
      }
    }
  }
}

export interface ModuleScope {
  require: NodeJS.Require;
  module: NodeJS.Module;
  filename: string;
  dirname: string;
}

/**
 * Compiles and runs the bundle as the module `scope` (the loader's own file), with the code cache
 * when there is a usable one; returns what happened to the cache.
 */
export function runDeviceBundle(bundle: DeviceBundle, scope: ModuleScope, env: NodeJS.ProcessEnv = process.env): CodeCacheStatus {
  const dir = cacheDir(env);
  const name = cacheFileName(bundle.id, { version: process.version, arch: process.arch, flags: [...process.execArgv, env.NODE_OPTIONS ?? ''].join(' ').trim() });
  const cached = dir ? readCache(join(dir, name)) : { corrupt: false };
  const script = new Script(bundle.source, { filename: scope.filename, ...(cached.data ? { cachedData: cached.data } : {}) });
  const status: CodeCacheStatus = !dir ? 'off' : cached.data ? (script.cachedDataRejected ? 'rejected' : 'hit') : cached.corrupt ? 'corrupt' : 'miss';
  if (env.FLIPSIDE_CODE_CACHE_DEBUG) process.stderr.write(`flipside: code cache ${status}${dir ? ` ${join(dir, name)}` : ''}\n`);
  if (dir && status !== 'hit') {
    // After the bundle ran, the cache also holds the functions it compiled lazily: written when
    // the command exits, or once the daemon has run a while (it does not exit).
    let written = false;
    const write = () => {
      if (written) return;
      written = true;
      try {
        writeCache(dir, name, script.createCachedData());
      } catch (e) {
        if (env.FLIPSIDE_CODE_CACHE_DEBUG) process.stderr.write(`flipside: code cache not written: ${(e as Error).message}\n`);
      }
    };
    process.once('exit', write);
    setTimeout(write, WRITE_AFTER_MS).unref();
  }
  const fn = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: NodeJS.Module, filename: string, dirname: string) => void;
  fn.call(scope.module.exports, scope.module.exports, scope.require, scope.module, scope.filename, scope.dirname);
  return status;
}
