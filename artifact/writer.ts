// Writes Mender artifacts (format v3) as mender-artifact 4.0 does: same members, order, names,
// tar header layout and JSON, so `mender-artifact validate` accepts them. One difference: a
// rootfs-image type-info carries `"type":"rootfs-image"` as 4.3.1+ writes it (4.0.0 wrote `""`,
// which 4.4.0 refuses; Debian's 3.9.0, the 3.4/3.5 clients and our reader accept both). Unlike mender-artifact the
// output is deterministic: every mtime is fixed (spec.mtime, default the epoch).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { compressBuffer, createCompressor, parseCompressionId, type CompressionChoice } from './compression.js';
import { compressionSuffix } from './compression-names.js';
import { writeAll } from './drain.js';
import { ArtifactError } from './errors.js';
import { goJson, struct } from './json.js';
import { formatManifest } from './manifest.js';
import { signManifest, type KeyInput } from './sign.js';
import { END_OF_ARCHIVE, encodeHeader, padding } from './tar.js';
import type { Compression, ProvidesValue } from './types.js';

export interface PayloadFileSpec {
  /** Name inside the payload (default: basename of path). */
  name?: string;
  path?: string;
  content?: Buffer;
  /** Tar mode (default 0644). */
  mode?: number;
}

export interface ScriptSpec {
  name?: string;
  path?: string;
  content?: Buffer;
  mode?: number;
}

/** Everything `mender-artifact write rootfs-image|module-image` takes on its command line. */
export interface WriteSpec {
  /** Payload type: `rootfs-image`, or the update module's name (`-T`), e.g. `single-file`. */
  type: string;
  /** Which write command's defaults apply (default: rootfs-image when type is rootfs-image). */
  kind?: 'rootfs-image' | 'module-image';
  /** -n */
  name: string;
  /** -t (repeatable) */
  deviceTypes: string[];
  /** -f: exactly one for rootfs-image, any number for module-image. */
  files?: Array<string | PayloadFileSpec>;
  /** none | gzip | xz | zstd, or a mender-artifact id (lzma, zstd_fast, ...). Default gzip. */
  compression?: Compression | string;
  /** Overrides the level the compression id implies (gzip 1-9, xz 0-9, zstd 1-19). */
  compressionLevel?: number;
  /** -k: private key (PEM or KeyObject) to sign with. */
  key?: KeyInput;
  /** -N */
  artifactNameDepends?: string[];
  /** -g */
  providesGroup?: string;
  /** -G */
  dependsGroups?: string[];
  /** -p KEY:VALUE */
  provides?: Record<string, string>;
  /** -d KEY:VALUE */
  depends?: Record<string, ProvidesValue>;
  /** -m: parsed meta-data JSON object. */
  metaData?: Record<string, unknown>;
  /** -s: state scripts. */
  scripts?: Array<string | ScriptSpec>;
  softwareName?: string;
  softwareVersion?: string;
  softwareFilesystem?: string;
  noDefaultSoftwareVersion?: boolean;
  clearsProvides?: string[];
  noDefaultClearsProvides?: boolean;
  /** rootfs-image: --no-checksum-provide */
  noChecksumProvide?: boolean;
  /** rootfs-image: --legacy-rootfs-image-checksum */
  legacyRootfsImageChecksum?: boolean;
  /**
   * When -p sets the same key as the software version: true when --software-* came after it on
   * the command line (mender-artifact's rule). Default false: the explicit -p wins.
   */
  softwareVersionOverridesProvides?: boolean;
  /** mtime of every member (default 1970-01-01). */
  mtime?: Date;
  /** Where the compressed payload is staged (default os.tmpdir()). */
  tmpDir?: string;
  /** Payload bytes processed so far, of total (each byte is counted once per pass). */
  onProgress?: (done: number, total: number) => void;
}

export interface WriteResult {
  bytes: number;
  manifest: string;
}

interface FileItem {
  name: string;
  path?: string;
  content?: Buffer;
  mode: number;
  size: number;
  sha256?: string;
}

const NAME_OK = /^[\x21-\x7e]{1,256}$/;

function invalid(msg: string): never {
  throw new ArtifactError('BAD_HEADER', msg);
}

function softwareVersion(spec: WriteSpec, isModule: boolean): Record<string, string> {
  let svn = spec.softwareFilesystem ? spec.softwareFilesystem : 'rootfs-image';
  let name = spec.softwareName ?? '';
  let version = spec.softwareVersion ?? '';
  if (!spec.noDefaultSoftwareVersion) {
    if (name === '') name = isModule ? spec.type : '';
    if (version === '') version = spec.name;
  }
  if (name !== '') svn += `.${name}`;
  return svn !== '' && version !== '' ? { [`${svn}.version`]: version } : {};
}

function clearsProvides(spec: WriteSpec, isModule: boolean): string[] {
  const list = [...(spec.clearsProvides ?? [])];
  if (spec.noDefaultClearsProvides || spec.noDefaultSoftwareVersion) return list;
  const fs = spec.softwareFilesystem !== undefined ? spec.softwareFilesystem : 'rootfs-image';
  let sn: string;
  if (spec.softwareName) sn = `${spec.softwareName}.`;
  else if (!isModule) {
    sn = '';
    if (fs === 'rootfs-image') list.push('artifact_group', 'rootfs_image_checksum');
  } else sn = `${spec.type}.`;
  const def = `${fs}.${sn}*`;
  if (!list.includes(def)) list.push(def);
  return list;
}

/** The type-info type, provides/depends/clears mender-artifact 4.3.1+ derives from the flags. */
export function makeTypeInfo(spec: WriteSpec, rootfsChecksum?: string): string {
  const isModule = (spec.kind ?? (spec.type === 'rootfs-image' ? 'rootfs-image' : 'module-image')) === 'module-image';
  const provides: Record<string, string> = { ...(spec.provides ?? {}) };
  for (const [k, v] of Object.entries(softwareVersion(spec, isModule))) {
    if (provides[k] === undefined || provides[k] === '' || spec.softwareVersionOverridesProvides) provides[k] = v;
  }
  if (!isModule && !spec.noChecksumProvide && rootfsChecksum) {
    provides[spec.legacyRootfsImageChecksum ? 'rootfs_image_checksum' : 'rootfs-image.checksum'] = rootfsChecksum;
  }
  const depends = spec.depends && Object.keys(spec.depends).length > 0 ? spec.depends : undefined;
  const clears = clearsProvides(spec, isModule);
  return goJson(
    struct([
      ['type', spec.type],
      ['artifact_depends', depends],
      ['artifact_provides', Object.keys(provides).length > 0 ? provides : undefined],
      ['clears_artifact_provides', clears.length > 0 ? clears : undefined],
    ]),
  );
}

export function makeHeaderInfo(spec: WriteSpec): string {
  const nonEmpty = (l?: string[]) => (l && l.length > 0 ? l : undefined);
  return goJson(
    struct([
      ['payloads', [struct([['type', spec.type]])]],
      ['artifact_provides', struct([['artifact_name', spec.name], ['artifact_group', spec.providesGroup || undefined]])],
      [
        'artifact_depends',
        struct([
          ['artifact_name', nonEmpty(spec.artifactNameDepends)],
          ['device_type', spec.deviceTypes],
          ['artifact_group', nonEmpty(spec.dependsGroups)],
        ]),
      ],
    ]),
  );
}

function validate(spec: WriteSpec, isModule: boolean): void {
  if (!spec.name || /\s/.test(spec.name)) invalid('artifact name must be non-empty and contain no whitespace');
  if (!NAME_OK.test(spec.name)) invalid('artifact name must be at most 256 printable characters');
  if (!spec.deviceTypes || spec.deviceTypes.length === 0) invalid('at least one device type is required');
  for (const d of spec.deviceTypes) if (!NAME_OK.test(d)) invalid(`invalid device type ${JSON.stringify(d)}`);
  if (!spec.type) invalid('payload type is required');
  const n = spec.files?.length ?? 0;
  if (!isModule && n !== 1) invalid('rootfs-image needs exactly one file');
  if (!isModule && spec.metaData) invalid('rootfs-image takes no meta-data');
}

async function resolveFiles(spec: WriteSpec): Promise<FileItem[]> {
  const out: FileItem[] = [];
  const names = new Set<string>();
  for (const f of spec.files ?? []) {
    const s: PayloadFileSpec = typeof f === 'string' ? { path: f } : f;
    const name = s.name ?? (s.path ? basename(s.path) : '');
    if (!name || name.includes('/') || name === '.' || name === '..') invalid(`invalid payload file name ${JSON.stringify(name)}`);
    if (names.has(name)) throw new ArtifactError('DUPLICATE_MEMBER', `two payload files are named ${name}`);
    names.add(name);
    let size: number;
    if (s.content) size = s.content.length;
    else if (s.path) {
      const st = await stat(s.path);
      if (!st.isFile()) invalid(`${s.path} is not a regular file`);
      size = st.size;
    } else invalid(`payload file ${name} has neither path nor content`);
    out.push({ name, path: s.path, content: s.content, mode: s.mode ?? 0o644, size });
  }
  return out;
}

async function resolveScripts(spec: WriteSpec): Promise<Array<{ name: string; content: Buffer; mode: number }>> {
  const out = [];
  for (const sc of spec.scripts ?? []) {
    const s: ScriptSpec = typeof sc === 'string' ? { path: sc } : sc;
    const name = s.name ?? (s.path ? basename(s.path) : '');
    if (!/^[A-Za-z]+_(Enter|Leave|Error)_[0-9]{2}(_\S+)?$/.test(name)) invalid(`invalid state script name ${JSON.stringify(name)}`);
    const content = s.content ?? (await readFile(s.path!));
    out.push({ name, content, mode: s.mode ?? 0o755 });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function fileChunks(f: FileItem): AsyncIterable<Buffer> {
  if (f.content) {
    const c = f.content;
    return (async function* () {
      for (let i = 0; i < c.length; i += 1 << 20) yield c.subarray(i, i + (1 << 20));
    })();
  }
  return createReadStream(f.path!, { highWaterMark: 1 << 20 });
}

const writeTo = writeAll;

/** Counts bytes and applies backpressure to the final output. */
class Sink {
  bytes = 0;
  constructor(readonly out: Writable) {
    out.on('error', () => undefined); // reported through writeAll / finished
  }
  async write(b: Buffer): Promise<void> {
    this.bytes += b.length;
    await writeAll(this.out, b);
  }
  async member(name: string, body: Buffer, mode: number, mtime: Date, owner: 'root' | ''): Promise<void> {
    await this.write(encodeHeader({ name, size: body.length, mode, mtime, owner }));
    await this.write(body);
    await this.write(Buffer.alloc(padding(body.length)));
  }
}

/** Writes a whole artifact; resolves with its size and manifest text. */
export async function writeArtifact(spec: WriteSpec, out: Writable | string): Promise<WriteResult> {
  const isModule = (spec.kind ?? (spec.type === 'rootfs-image' ? 'rootfs-image' : 'module-image')) === 'module-image';
  validate(spec, isModule);
  const choice: CompressionChoice = parseCompressionId(spec.compression ?? 'gzip');
  if (spec.compressionLevel !== undefined) choice.level = spec.compressionLevel;
  const suffix = compressionSuffix(choice.compression);
  const mtime = spec.mtime ?? new Date(0);
  const files = await resolveFiles(spec);
  const scripts = await resolveScripts(spec);
  const total = files.reduce((a, f) => a + f.size, 0);
  let done = 0;
  const progress = (n: number) => {
    done += n;
    spec.onProgress?.(done, total * 2);
  };

  const stageDir = await mkdtemp(join(spec.tmpDir ?? tmpdir(), 'flipside-artifact-'));
  try {
    // Pass 1: hash every payload file; when compressing, build the compressed data tar at once.
    const stagedData = join(stageDir, `data.tar${suffix}`);
    if (choice.compression === 'none') {
      for (const f of files) {
        const h = createHash('sha256');
        for await (const c of fileChunks(f)) {
          h.update(c);
          progress(c.length);
        }
        f.sha256 = h.digest('hex');
      }
    } else {
      const comp = createCompressor(choice);
      const piped = pipeline(comp, createWriteStream(stagedData));
      piped.catch(() => undefined);
      for (const f of files) {
        const h = createHash('sha256');
        await writeTo(comp, encodeHeader({ name: f.name, size: f.size, mode: f.mode, mtime, owner: 'root' }));
        let n = 0;
        for await (const c of fileChunks(f)) {
          h.update(c);
          n += c.length;
          await writeTo(comp, c);
          progress(c.length);
        }
        if (n !== f.size) throw new ArtifactError('CHECKSUM_MISMATCH', `${f.name} changed size while being written`);
        await writeTo(comp, Buffer.alloc(padding(f.size)));
        f.sha256 = h.digest('hex');
      }
      comp.end(END_OF_ARCHIVE);
      await piped;
    }

    // Header.
    const headerTarParts: Buffer[] = [];
    const addHeaderMember = (name: string, body: Buffer, mode: number, owner: 'root' | '', mt: Date) => {
      headerTarParts.push(encodeHeader({ name, size: body.length, mode, mtime: mt, owner }), body, Buffer.alloc(padding(body.length)));
    };
    addHeaderMember('header-info', Buffer.from(makeHeaderInfo(spec)), 0o600, '', new Date(0));
    for (const s of scripts) addHeaderMember(`scripts/${s.name}`, s.content, s.mode, 'root', mtime);
    addHeaderMember('headers/0000/type-info', Buffer.from(makeTypeInfo(spec, isModule ? undefined : files[0]!.sha256)), 0o600, '', new Date(0));
    if (!isModule) addHeaderMember('headers/0000/meta-data', Buffer.alloc(0), 0o600, '', new Date(0));
    else if (spec.metaData) addHeaderMember('headers/0000/meta-data', Buffer.from(goJson(spec.metaData)), 0o600, '', new Date(0));
    headerTarParts.push(END_OF_ARCHIVE);
    const headerName = `header.tar${suffix}`;
    const header = await compressBuffer(choice, Buffer.concat(headerTarParts));

    // Manifest and signature.
    const version = Buffer.from('{"format":"mender","version":3}');
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const manifest = formatManifest([
      ...files.map((f): [string, string] => [`data/0000/${f.name}`, f.sha256!]),
      [headerName, sha(header)],
      ['version', sha(version)],
    ]);
    const signature = spec.key ? Buffer.from(signManifest(manifest, spec.key)) : null;

    // Pass 2: the outer tar.
    const target = typeof out === 'string' ? createWriteStream(out) : out;
    const sink = new Sink(target);
    try {
    await sink.member('version', version, 0o600, new Date(0), '');
    await sink.member('manifest', manifest, 0o600, new Date(0), '');
    if (signature) await sink.member('manifest.sig', signature, 0o600, new Date(0), '');
    await sink.member(headerName, header, 0o600, mtime, 'root');
    const dataName = `data/0000.tar${suffix}`;
    if (choice.compression === 'none') {
      const size = files.reduce((a, f) => a + 512 + f.size + padding(f.size), 0) + END_OF_ARCHIVE.length;
      await sink.write(encodeHeader({ name: dataName, size, mode: 0o600, mtime, owner: 'root' }));
      for (const f of files) {
        await sink.write(encodeHeader({ name: f.name, size: f.size, mode: f.mode, mtime, owner: 'root' }));
        const h = createHash('sha256');
        for await (const c of fileChunks(f)) {
          h.update(c);
          await sink.write(c);
          progress(c.length);
        }
        if (h.digest('hex') !== f.sha256) throw new ArtifactError('CHECKSUM_MISMATCH', `${f.name} changed while the artifact was written`);
        await sink.write(Buffer.alloc(padding(f.size)));
      }
      await sink.write(END_OF_ARCHIVE);
      await sink.write(Buffer.alloc(padding(size)));
    } else {
      const size = (await stat(stagedData)).size;
      await sink.write(encodeHeader({ name: dataName, size, mode: 0o600, mtime, owner: 'root' }));
      for await (const c of createReadStream(stagedData, { highWaterMark: 1 << 20 })) {
        await sink.write(c as Buffer);
        progress(Math.round(((c as Buffer).length / Math.max(size, 1)) * total));
      }
      await sink.write(Buffer.alloc(padding(size)));
    }
    await sink.write(END_OF_ARCHIVE);
    if (typeof out === 'string') {
      target.end();
      await finished(target);
    }
    } catch (e) {
      if (typeof out === 'string') {
        target.destroy();
        await rm(out, { force: true });
      }
      throw e;
    }
    return { bytes: sink.bytes, manifest: manifest.toString() };
  } finally {
    await rm(stageDir, { recursive: true, force: true });
  }
}
