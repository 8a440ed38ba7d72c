// Shared by the *.test.ts files of client/install/modules/ only: hand-built headers, temp dirs, a recording
// fake module, and feeding payload files into an installer the way the artifact reader does.
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ExecutionContext } from 'ava';
import type { ArtifactHeaders, PayloadEntry } from '../../../../artifact/types.js';
import type { InstallContext, PayloadInstaller } from '../../types.js';

export const SHIPPED_MODULES = new URL('../bin/', import.meta.url).pathname;

export async function tempDir(t: ExecutionContext, prefix = 'flipside-um-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function makeHeaders(opts: {
  type: string | null;
  name?: string;
  group?: string;
  metaData?: Record<string, unknown> | null;
  files?: Array<{ name: string; data: Buffer }>;
}): ArtifactHeaders {
  const name = opts.name ?? 'release-2';
  return {
    formatVersion: 3,
    name,
    provides: opts.group ? { artifact_name: name, artifact_group: opts.group } : { artifact_name: name },
    depends: { device_type: ['qemux86-64'] },
    payloads: [
      {
        index: 0,
        type: opts.type,
        typeInfo: {
          type: opts.type,
          artifact_provides: { [`rootfs-image.${opts.type}.version`]: name },
          clears_artifact_provides: [`rootfs-image.${opts.type}.*`],
        },
        metaData: opts.metaData ?? null,
        files: (opts.files ?? []).map((f) => ({ name: f.name, size: f.data.length, checksum: sha256(f.data), modified: new Date(0) })),
      },
    ],
    scripts: [],
    signature: 'none',
    manifest: new Map(),
    compression: 'none',
    augmented: false,
  };
}

export function makeContext(workDir: string, headers: ArtifactHeaders, log: string[] = []): InstallContext {
  return {
    headers,
    workDir,
    current: { artifactName: 'release-1', artifactGroup: 'stable', deviceType: 'qemux86-64' },
    log: (line) => log.push(line),
  };
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function entryFor(name: string, data: Buffer): PayloadEntry {
  return { payloadIndex: 0, name, size: data.length, modified: new Date(0), checksum: sha256(data) };
}

/** A stream that yields `data` in small chunks, so backpressure matters. */
export function chunked(data: Buffer, chunk = 16 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
    })(),
  );
}

/** Download as the state machine does it: every file through storeFile, then downloadDone. */
export async function download(installer: PayloadInstaller, files: Array<{ name: string; data: Buffer }>): Promise<void> {
  for (const f of files) await installer.storeFile(entryFor(f.name, f.data), chunked(f.data));
  await installer.downloadDone();
}

/**
 * Writes a module that appends every state it is called with to `<dir>/calls` and otherwise runs
 * `cases` (a map State → sh code). States without code print nothing and exit 0, as the
 * protocol asks of unknown states.
 */
export async function fakeModule(dir: string, cases: Record<string, string> = {}): Promise<{ path: string; calls: () => Promise<string[]> }> {
  const record = join(dir, 'calls');
  const path = join(dir, 'fake-module');
  const branches = Object.entries(cases)
    .map(([state, code]) => `  ${state})\n${code}\n    ;;`)
    .join('\n');
  await writeFile(path, `#!/bin/sh\necho "$1" >> '${record}'\ncase "$1" in\n${branches}\nesac\nexit 0\n`);
  await chmod(path, 0o755);
  return {
    path,
    calls: async () => {
      try {
        return (await readFile(record, 'utf8')).split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}

/** sh for a Download state that consumes every stream into `<outDir>/<name>` and logs each stream-next line. */
export function streamingDownload(outDir: string): string {
  return `    mkdir -p '${outDir}'
    while :; do
      line=$(cat stream-next)
      echo "next:$line" >> '${outDir}/next-lines'
      [ -z "$line" ] && break
      path=\${line%% *}
      cat "$path" > '${outDir}'/"\${path#streams/}"
    done`;
}
