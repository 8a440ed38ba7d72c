// A V8 start-up snapshot of the device client: the heap of a Node process that has bootstrapped,
// compiled the bundle and (in images) loaded every command's modules (snapshotBuildScript), written by
// `node --build-snapshot` with the device's own node, and started with
// `node --snapshot-blob FILE -- ARGS`. Debian's Node 18 has no start-up snapshot of its own, so
// under qemu-aarch64 a plain `node -e 0` costs tens of seconds of guest CPU; a start from this
// snapshot skips Node's bootstrap and the bundle's compile.
//
// The snapshot is only valid for the exact node binary and bundle it was made from, and V8 does not
// check a snapshot's bytes in release builds (a damaged one may crash or misbehave). So the image
// builder (qemu/image/snapshot.ts) writes, beside it, a check file: the fingerprint of the snapshot,
// the bundle and node's files. The launcher (/usr/bin/flipside, `launcherScript`) computes the same
// fingerprint at each start and uses the snapshot only when both match; otherwise (missing, stale,
// damaged, NODE_OPTIONS set) it starts the bundle, which takes its V8 code cache
// (client/device-loader.ts) or compiles from source. Nothing here is written on the device.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, readFileSync, statSync } from 'node:fs';
import { LAZY_BUILTINS } from './build-device.js';

/** Where the image keeps the snapshot and its check file: beside the bundle (read-only rootfs). */
export const SNAPSHOT_NAME = 'flipside.snapshot';
export const SNAPSHOT_CHECK_NAME = 'flipside.snapshot.check';

/** How much of each of node's files the fingerprint hashes: the ELF headers and build-id note. */
export const NODE_FILE_HEAD = 65536;

/** Node's warning when the snapshot's require loads a built-in it cannot hold (LAZY_BUILTINS, after the start). */
const UNSUPPORTED_WARNING = 'is not yet supported in user snapshots';

export interface LauncherPaths {
  /** The node executable. */
  node: string;
  /** The bundle (flipside.cjs); the snapshot and its check file live in the same folder. */
  bundle: string;
  /** Files that identify node's build (the executable, libnode): size and head of each are checked. */
  nodeFiles: string[];
  /** A folder in a tmpfs for the per-boot verdicts. Default SNAPSHOT_STATE_DIR. */
  stateDir?: string;
}

const dirOf = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/';
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The launcher's per-boot verdicts, in a tmpfs (/run on the image): see launcherScript. */
export const SNAPSHOT_STATE_DIR = '/run/flipside';

/**
 * /usr/bin/flipside: a POSIX sh script (busybox's on the image). FLIPSIDE_NO_SNAPSHOT=1 starts
 * from the bundle; FLIPSIDE_SNAPSHOT_DEBUG=1 says on stderr which start it chose and why.
 *
 * Node refuses a snapshot made for other CPU features or V8 flags (V8's cache tag), before it runs
 * any of it, with an error exit: so the first start from the snapshot after boot runs as a child
 * of the launcher, with a marker file whose path is in FLIPSIDE_SNAPSHOT_STARTED. The snapshot's
 * main renames the marker to `snapshot.ok` first thing; a marker still there after node exited
 * means node refused the snapshot, and the launcher starts the bundle instead (and does so for the
 * rest of the boot). Later starts find `snapshot.ok` and exec node directly.
 */
export function launcherScript(p: LauncherPaths): string {
  const dir = dirOf(p.bundle);
  const state = p.stateDir ?? SNAPSHOT_STATE_DIR;
  return `#!/bin/sh
# Flipside's launcher (client/snapshot.ts): starts the client from its V8 start-up snapshot when
# the snapshot's check file matches the snapshot, the bundle and node as they are now, and node
# accepts it; otherwise from the bundle (its V8 code cache, or source). V8 flags in NODE_OPTIONS
# would make V8 refuse the snapshot: they start from the bundle too.
node=${q(p.node)}
bundle=${q(p.bundle)}
snapshot=${q(`${dir}/${SNAPSHOT_NAME}`)}
check=${q(`${dir}/${SNAPSHOT_CHECK_NAME}`)}
state=${q(state)}
# Sizes from stat: busybox's wc -c reads the whole file (libnode is 43 MB, 2.8 s of guest CPU).
fingerprint() {
  sha256sum "$snapshot" "$bundle"
  for f in ${p.nodeFiles.map(q).join(' ')}; do
    echo "$(stat -L -c %s "$f") $(head -c ${NODE_FILE_HEAD} "$f" | sha256sum)"
  done
}
debug() { [ -z "$FLIPSIDE_SNAPSHOT_DEBUG" ] || echo "flipside: $*" >&2; }
why=
if [ -n "$FLIPSIDE_NO_SNAPSHOT" ]; then why="FLIPSIDE_NO_SNAPSHOT is set"
elif [ -n "$NODE_OPTIONS" ]; then why="NODE_OPTIONS is set"
elif [ ! -s "$check" ] || [ ! -s "$snapshot" ]; then why="no snapshot"
else
  id=$(head -n 1 "$check")
  if [ "$(cat "$state/snapshot.ok" 2>/dev/null)" = "$id" ]; then
    debug "start-up snapshot $snapshot"
    exec "$node" --snapshot-blob "$snapshot" -- "$@"
  fi
  have=$(fingerprint 2>/dev/null)
  if [ "$have" != "$(cat "$check")" ]; then why="stale or damaged: $(echo "$have" | grep -vxF -f "$check" | head -n 1)"
  elif [ "$(cat "$state/snapshot.refused" 2>/dev/null)" = "$id" ]; then why="node refused it before"
  elif ! { mkdir -p "$state" && echo "$id" >"$state/start.$$"; } 2>/dev/null; then why="cannot write $state"
  else
    debug "start-up snapshot $snapshot (first start)"
    FLIPSIDE_SNAPSHOT_STARTED="$state/start.$$" "$node" --snapshot-blob "$snapshot" -- "$@"
    rc=$?
    [ -e "$state/start.$$" ] || exit $rc
    # Stopped from outside before it got going (Ctrl-C, kill): no verdict.
    case $rc in 129|130|137|143) rm -f "$state/start.$$"; exit $rc ;; esac
    mv -f "$state/start.$$" "$state/snapshot.refused"
    why="node refused it (exit $rc)"
  fi
fi
debug "no start-up snapshot ($why)"
exec "$node" "$bundle" "$@"
`;
}

function headOf(file: string, n: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * The check file's text: what the launcher's `fingerprint` prints for these files, byte for byte
 * (sha256sum's "HASH  NAME" lines). `read(path)` maps a launcher path to where the builder finds the
 * file (the image's tree).
 */
export function snapshotFingerprint(p: LauncherPaths, read: (path: string) => string = (x) => x): string {
  const snapshot = `${dirOf(p.bundle)}/${SNAPSHOT_NAME}`;
  const lines = [snapshot, p.bundle].map((f) => `${sha256(readFileSync(read(f)))}  ${f}`);
  for (const f of p.nodeFiles) lines.push(`${statSync(read(f)).size} ${sha256(headOf(read(f), NODE_FILE_HEAD))}  -`);
  return `${lines.join('\n')}\n`;
}

/** Set in the environment of a start from the snapshot: its main runs a full GC first (the image builder's check). */
export const SNAPSHOT_GC_CHECK_ENV = 'FLIPSIDE_SNAPSHOT_GC_CHECK';

/** What the build script prints for a LAZY_BUILTINS module loaded during the build (Node warns only for some). */
const LOADED_AT_BUILD = 'was loaded while the snapshot was built';

/**
 * The script `node --build-snapshot` runs: the bundle's source (a CommonJS function expression,
 * client/build-device.ts) is loaded with the snapshot builder's require (built-ins only, which is all
 * the bundle needs), told not to run its CLI (cli.ts: SNAPSHOT_BUILD_FLAG), and given the main that
 * the started snapshot runs with its arguments (`node --snapshot-blob F -- ARGS`: process.argv is
 * [node, ...ARGS]).
 *
 * With `loadCommands` the snapshot also holds every command's modules loaded and initialised
 * (cli.ts: loadEveryCommand), so install, commit, rollback, resume, show-artifact and the daemon
 * start with nothing left to compile but what they load on first use (LAZY_BUILTINS, LAZY_PACKAGES).
 * What such a snapshot must not hold: Node 18's V8 (10.2) writes the native pointer of a
 * zero-length ArrayBuffer (its ArrayBufferExtension, a malloc'd address of the building process)
 * into the snapshot as it is, and a process started from it marks that address at its first full
 * GC. In the qemu-aarch64 guest that address is unmapped: `flipside install` died with SIGSEGV in
 * V8's concurrent marker (JSArrayBuffer::MarkExtension) a few MiB into the payload; under qemu-user
 * on the host, whose address layout repeats the build's, the same byte write silently landed in
 * live memory. zlib's module (kFlushBuffers) and @msgpack/msgpack (EMPTY_VIEW) made such buffers, so
 * both load on first use (client/build-device.ts), and the image builder (qemu/image/snapshot.ts)
 * starts each snapshot under qemu-user with another address layout and a full GC first
 * (SNAPSHOT_GC_CHECK_ENV) before it ships it. Node 20's V8 clears the pointer: the host's tests
 * cannot see this.
 */
export function snapshotBuildScript(bundleSource: string, o: { loadCommands?: boolean } = {}): string {
  return `'use strict';
// Builds the Flipside client's start-up snapshot (client/snapshot.ts); generated, not shipped.
const { startupSnapshot } = require('v8');
const fs = require('fs');
const path = require('path');
// Node 18's snapshot require does not know the node: prefix.
const builtin = (id) => require(id.startsWith('node:') ? id.slice(5) : id);
globalThis.__flipsideSnapshotBuild = true;
const bundle = { exports: {} };
(${bundleSource}).call(bundle.exports, bundle.exports, builtin, bundle, __filename, __dirname);
delete globalThis.__flipsideSnapshotBuild;
const cli = bundle.exports;
// Node aborts or warns for some of these; zlib it takes, with a stale pointer (see snapshotBuildScript).
const mustNotLoad = () => {
  for (const id of ${JSON.stringify(LAZY_BUILTINS)}) {
    if (!process.moduleLoadList.includes('NativeModule ' + id)) continue;
    process.stderr.write('flipside snapshot: built-in module ' + id + ' ${LOADED_AT_BUILD}\\n');
    process.exitCode = 1;
  }
};
${o.loadCommands ? `cli.loadEveryCommand().then(mustNotLoad, (e) => {
  process.stderr.write('flipside snapshot: loading the commands failed: ' + (e && e.stack || e) + '\\n');
  process.exitCode = 1;
});` : `// The commands load their modules after the start (see snapshotBuildScript).
mustNotLoad();`}
startupSnapshot.setDeserializeMainFunction(() => {
  // Tell the launcher that node took the snapshot (see launcherScript).
  const started = process.env.FLIPSIDE_SNAPSHOT_STARTED;
  if (started) {
    delete process.env.FLIPSIDE_SNAPSHOT_STARTED;
    try {
      fs.renameSync(started, path.join(path.dirname(started), 'snapshot.ok'));
    } catch {
      // Gone at least, or the launcher would take this run for a refusal and start the bundle too.
      try { fs.unlinkSync(started); } catch {}
    }
  }
  // ${LAZY_BUILTINS.join(', ')} load on first use through the builder's require,
  // which warns that a snapshot cannot hold them: it does not have to, they load after the start.
  const emitWarning = process.emitWarning;
  process.emitWarning = function (warning, ...rest) {
    if (typeof warning === 'string' && warning.endsWith(${JSON.stringify(UNSUPPORTED_WARNING)})) return;
    return emitWarning.call(this, warning, ...rest);
  };
  if (process.env.${SNAPSHOT_GC_CHECK_ENV}) {
    // The image builder's check: a full GC marks every ArrayBuffer the snapshot holds.
    delete process.env.${SNAPSHOT_GC_CHECK_ENV};
    require('v8').setFlagsFromString('--expose-gc');
    require('vm').runInNewContext('gc')();
  }
  cli.runMain(process.argv.slice(1));
});
`;
}

/**
 * Built-ins the bundle loaded while the snapshot was built although the builder cannot hold them
 * (from the builder's warnings on stderr): a module that destructures a LAZY_BUILTINS module at
 * load, or a new built-in to add to that list. Such a snapshot must not be used.
 */
export function unsupportedBuiltinsLoaded(builderStderr: string): string[] {
  return [...builderStderr.matchAll(new RegExp(`built-in module (\\S+) (?:${UNSUPPORTED_WARNING}|${LOADED_AT_BUILD})`, 'g'))].map((m) => m[1]!);
}
