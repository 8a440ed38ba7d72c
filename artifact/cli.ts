// `flipside-artifact`: write, read, validate and sign Mender artifacts, with mender-artifact 4.0's
// subcommands, flags and meanings. Exit codes follow mender-artifact where it has them: 0 ok,
// 1 read failure or bad usage, 2 cannot create the artifact, 3 cannot open it, 4 invalid artifact.
// (mender-artifact 4.0 numbers "invalid parameters" 0 by accident; we use 1.)
import { existsSync, readFileSync } from 'node:fs';
import { didYouMean } from './suggest.js';
import { access } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ArtifactError } from './errors.js';
import { COMPRESSION_IDS } from './compression-ids.js';
import type { ArtifactHeaders } from './types.js';
import type { WriteSpec } from './writer.js';
// The reader, writer, signer and formatter (zlib, crypto, child processes, the xz/zstd engines)
// load only when a command needs them: `--help` and usage errors start in bare-Node time.
const reader = () => import('./reader.js');
const signer = () => import('./sign.js');

export const EXIT = { ok: 0, usage: 1, readFailed: 1, create: 2, open: 3, invalid: 4 } as const;

type Kind = 'string' | 'list' | 'bool';
interface FlagDef {
  long: string;
  short?: string;
  kind: Kind;
}

interface Parsed {
  values: Map<string, string[]>;
  bools: Set<string>;
  positional: string[];
  /** Flag long names in command-line order (for -p vs --software-* precedence). */
  order: string[];
}

class UsageError extends Error {}

function parseFlags(argv: string[], defs: FlagDef[]): Parsed {
  const byLong = new Map(defs.map((d) => [d.long, d]));
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short!, d]));
  const p: Parsed = { values: new Map(), bools: new Set(), positional: [], order: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      p.positional.push(...argv.slice(i + 1));
      break;
    }
    let def: FlagDef | undefined;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      if (eq !== -1) inline = a.slice(eq + 1);
      def = byLong.get(name);
      if (!def) throw new UsageError(`flag provided but not defined: ${a}${didYouMean(name, [...byLong.keys()], '--')}`);
    } else if (a.startsWith('-') && a.length > 1 && a !== '-') {
      def = byShort.get(a.slice(1, 2));
      if (!def) throw new UsageError(`flag provided but not defined: ${a}`);
      if (a.length > 2) inline = a.slice(2);
    } else {
      p.positional.push(a);
      continue;
    }
    p.order.push(def.long);
    if (def.kind === 'bool') {
      p.bools.add(def.long);
      continue;
    }
    const v = inline ?? argv[++i];
    if (v === undefined) throw new UsageError(`flag needs an argument: ${a}`);
    const list = p.values.get(def.long) ?? [];
    if (def.kind === 'string') list.length = 0;
    list.push(v);
    p.values.set(def.long, list);
  }
  return p;
}

const one = (p: Parsed, k: string): string | undefined => p.values.get(k)?.[0];
const many = (p: Parsed, k: string): string[] => p.values.get(k) ?? [];

const COMMON_WRITE: FlagDef[] = [
  { long: 'artifact-name', short: 'n', kind: 'string' },
  { long: 'device-type', short: 't', kind: 'list' },
  { long: 'output-path', short: 'o', kind: 'string' },
  { long: 'key', short: 'k', kind: 'string' },
  { long: 'artifact-name-depends', short: 'N', kind: 'list' },
  { long: 'provides-group', short: 'g', kind: 'string' },
  { long: 'depends-groups', short: 'G', kind: 'list' },
  { long: 'provides', short: 'p', kind: 'list' },
  { long: 'depends', short: 'd', kind: 'list' },
  { long: 'script', short: 's', kind: 'list' },
  { long: 'compression', kind: 'string' },
  { long: 'version', short: 'v', kind: 'string' },
  { long: 'software-name', kind: 'string' },
  { long: 'software-version', kind: 'string' },
  { long: 'software-filesystem', kind: 'string' },
  { long: 'clears-provides', kind: 'list' },
  { long: 'no-default-software-version', kind: 'bool' },
  { long: 'no-default-clears-provides', kind: 'bool' },
  { long: 'no-progress', kind: 'bool' },
];
const ROOTFS_FLAGS: FlagDef[] = [
  ...COMMON_WRITE,
  { long: 'file', short: 'f', kind: 'string' },
  { long: 'legacy-rootfs-image-checksum', kind: 'bool' },
  { long: 'no-checksum-provide', kind: 'bool' },
];
const MODULE_FLAGS: FlagDef[] = [
  ...COMMON_WRITE,
  { long: 'file', short: 'f', kind: 'list' },
  { long: 'type', short: 'T', kind: 'string' },
  { long: 'meta-data', short: 'm', kind: 'string' },
];
const READ_FLAGS: FlagDef[] = [
  { long: 'key', short: 'k', kind: 'string' },
  { long: 'json', kind: 'bool' },
  { long: 'no-progress', kind: 'bool' },
];
const SIGN_FLAGS: FlagDef[] = [
  { long: 'key', short: 'k', kind: 'string' },
  { long: 'output-path', short: 'o', kind: 'string' },
  { long: 'force', short: 'f', kind: 'bool' },
];

const USAGE = `flipside-artifact — write, read, validate and sign Mender artifacts (mender-artifact 4.0 compatible)

USAGE:
  flipside-artifact write rootfs-image -n NAME -t DEVICE [-t DEVICE...] -f FILE [-o OUT] [options]
  flipside-artifact write module-image -T TYPE -n NAME -t DEVICE [-f FILE...] [-m META.json] [-o OUT] [options]
  flipside-artifact read [-k PUBKEY] [--json] FILE
  flipside-artifact validate [-k PUBKEY] FILE
  flipside-artifact sign -k KEY [-o OUT] [-f] FILE

WRITE OPTIONS:
  -k, --key KEY                   sign with this private key (RSA or ECDSA P-256, PEM)
  -N, --artifact-name-depends N   -g, --provides-group G   -G, --depends-groups G
  -p, --provides KEY:VALUE        -d, --depends KEY:VALUE  -s, --script FILE
  --compression ${COMPRESSION_IDS.join('|')} (default gzip)
  --software-name N --software-version V --software-filesystem F
  --clears-provides PATTERN --no-default-software-version --no-default-clears-provides
  --no-checksum-provide --legacy-rootfs-image-checksum (rootfs-image)   --no-progress
Output is deterministic: member mtimes are SOURCE_DATE_EPOCH (default 0).
`;

function keyValues(list: string[]): Record<string, string> | undefined {
  if (list.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const a of list) {
    const i = a.indexOf(':');
    if (i === -1) throw new UsageError(`argument must have a delimiting colon: ${a}`);
    out[a.slice(0, i)] = a.slice(i + 1);
  }
  return out;
}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

async function write(kind: 'rootfs-image' | 'module-image', argv: string[], io: Io): Promise<number> {
  const p = parseFlags(argv, kind === 'rootfs-image' ? ROOTFS_FLAGS : MODULE_FLAGS);
  const name = one(p, 'artifact-name');
  const devices = many(p, 'device-type');
  const files = kind === 'rootfs-image' ? (one(p, 'file') ? [one(p, 'file')!] : []) : many(p, 'file');
  if (!name || devices.length === 0) throw new UsageError('must provide `device-type` and `artifact-name`');
  if (kind === 'rootfs-image' && files.length === 0) throw new UsageError('must provide `device-type`, `artifact-name` and `file`');
  if (/\s/.test(name)) throw new UsageError('whitespace is not allowed in the artifact-name');
  const type = kind === 'rootfs-image' ? 'rootfs-image' : one(p, 'type');
  if (!type) throw new UsageError('The `type` flag is required');
  const fmt = one(p, 'version');
  if (fmt !== undefined && fmt !== '3') {
    io.err(`Artifact version ${fmt} is not supported for writing\n`);
    return EXIT.usage;
  }
  const lastProvides = p.order.lastIndexOf('provides');
  const lastSoftware = Math.max(p.order.lastIndexOf('software-name'), p.order.lastIndexOf('software-version'), p.order.lastIndexOf('software-filesystem'));
  let metaData: Record<string, unknown> | undefined;
  const metaPath = one(p, 'meta-data');
  if (metaPath) {
    try {
      const j: unknown = JSON.parse(readFileSync(metaPath, 'utf8'));
      if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('meta-data must be a JSON object');
      metaData = j as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`${metaPath}: ${(e as Error).message}`);
    }
  }
  const keyPath = one(p, 'key');
  const key = keyPath ? (await signer()).loadPrivateKey(readFileSync(keyPath)) : undefined;
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? '0');
  const out = one(p, 'output-path') ?? 'artifact.mender';
  const showProgress = !p.bools.has('no-progress') && process.stderr.isTTY === true && out !== '-';
  const spec: WriteSpec = {
    type,
    kind,
    name,
    deviceTypes: devices,
    files,
    compression: one(p, 'compression') ?? 'gzip',
    key,
    artifactNameDepends: many(p, 'artifact-name-depends'),
    providesGroup: one(p, 'provides-group'),
    dependsGroups: many(p, 'depends-groups'),
    provides: keyValues(many(p, 'provides')),
    depends: keyValues(many(p, 'depends')),
    metaData,
    scripts: many(p, 'script'),
    softwareName: one(p, 'software-name'),
    softwareVersion: one(p, 'software-version'),
    softwareFilesystem: one(p, 'software-filesystem'),
    noDefaultSoftwareVersion: p.bools.has('no-default-software-version'),
    clearsProvides: p.values.has('clears-provides') ? many(p, 'clears-provides') : undefined,
    noDefaultClearsProvides: p.bools.has('no-default-clears-provides'),
    noChecksumProvide: p.bools.has('no-checksum-provide'),
    legacyRootfsImageChecksum: p.bools.has('legacy-rootfs-image-checksum'),
    softwareVersionOverridesProvides: lastProvides === -1 || (lastSoftware !== -1 && lastSoftware > lastProvides),
    mtime: new Date((Number.isFinite(epoch) ? epoch : 0) * 1000),
  };
  // Named after the usage checks, before anything is written: the writer's own error would be a bare ENOENT from stat.
  const missing = files.filter((f) => f !== '-' && !existsSync(f));
  if (missing.length) {
    io.err(`can not create artifact file: the input file ${missing.map((f) => JSON.stringify(f)).join(', ')} does not exist (given with --file)\n`);
    return EXIT.create;
  }
  let bar: { start(t: number, v: number): void; update(v: number): void; stop(): void } | null = null;
  if (showProgress) {
    const { SingleBar, Presets } = (await import('cli-progress')).default;
    bar = new SingleBar({ stream: process.stderr, format: 'Writing Artifact... [{bar}] {percentage}%', hideCursor: true }, Presets.shades_classic);
    bar.start(100, 0);
    spec.onProgress = (done, total) => bar!.update(total > 0 ? Math.floor((done / total) * 100) : 100);
  }
  try {
    const { writeArtifact } = await import('./writer.js');
    await writeArtifact(spec, out === '-' ? process.stdout : out);
  } catch (e) {
    bar?.stop();
    if (e instanceof ArtifactError && e.code === 'BAD_HEADER') throw new UsageError(e.message);
    io.err(`can not create artifact file: ${(e as Error).message}\n`);
    return EXIT.create;
  }
  bar?.update(100);
  bar?.stop();
  return EXIT.ok;
}

async function openable(path: string | undefined, io: Io): Promise<boolean> {
  if (!path) throw new UsageError('Nothing specified, nothing read.');
  try {
    await access(path);
    return true;
  } catch {
    io.err(`Can not open artifact: ${path}\n`);
    return false;
  }
}

async function loadPub(p: Parsed): Promise<string[] | undefined> {
  const k = one(p, 'key');
  if (!k) return undefined;
  const pem = readFileSync(k, 'utf8');
  (await signer()).loadPublicKey(pem);
  return [pem];
}

async function read(argv: string[], io: Io): Promise<number> {
  const p = parseFlags(argv, READ_FLAGS);
  const file = p.positional[0];
  if (!(await openable(file, io))) return EXIT.open;
  const keys = await loadPub(p);
  const { readArtifact } = await reader();
  let headers: ArtifactHeaders;
  let verifyFailed = false;
  try {
    headers = await readArtifact(file!, { verifyKeys: keys, syncReads: true });
  } catch (e) {
    // Like mender-artifact, `read` reports a signature that fails to verify (or is absent) but
    // still shows the artifact.
    if (!(e instanceof ArtifactError && (e.code === 'SIGNATURE_INVALID' || e.code === 'SIGNATURE_REQUIRED'))) throw e;
    headers = await readArtifact(file!, { syncReads: true });
    verifyFailed = e.code === 'SIGNATURE_INVALID';
  }
  const { formatRead, headersToJson } = await import('./format.js');
  io.out(p.bools.has('json') ? `${JSON.stringify(headersToJson(headers, { verifyFailed }), null, 2)}\n` : formatRead(headers, { verifyFailed }));
  return EXIT.ok;
}

async function validate(argv: string[], io: Io): Promise<number> {
  const p = parseFlags(argv, READ_FLAGS);
  const file = p.positional[0];
  if (!(await openable(file, io))) return EXIT.open;
  const keys = await loadPub(p);
  const { readArtifact } = await reader();
  try {
    const h = await readArtifact(file!, { verifyKeys: keys, syncReads: true });
    if (!keys && h.signature !== 'none') throw new ArtifactError('SIGNATURE_REQUIRED', 'missing verifier');
  } catch (e) {
    if (e instanceof ArtifactError && e.code === 'SIGNATURE_REQUIRED' && keys) io.err(`missing signature (${e.message})\n`);
    else io.err(`${(e as Error).message}\n`);
    return EXIT.invalid;
  }
  io.out(`Artifact file '${file}' validated successfully\n`);
  return EXIT.ok;
}

async function sign(argv: string[], io: Io): Promise<number> {
  const p = parseFlags(argv, SIGN_FLAGS);
  const file = p.positional[0];
  if (!file) throw new UsageError('Nothing specified, nothing signed.');
  const keyPath = one(p, 'key');
  if (!keyPath) throw new UsageError('Missing signing key; please provide a signing key parameter');
  const { loadPrivateKey, resignArtifact } = await signer();
  const key = loadPrivateKey(readFileSync(keyPath));
  if (!(await openable(file, io))) return EXIT.open;
  const target = one(p, 'output-path') ?? realpathSync(file);
  try {
    await resignArtifact(file, target, key, { refuseIfSigned: !p.bools.has('force') });
  } catch (e) {
    io.err(`${(e as Error).message}\n`);
    return EXIT.readFailed;
  }
  return EXIT.ok;
}

/** Runs the CLI; resolves with the exit code (never calls process.exit). */
export async function main(argv: string[], io: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }): Promise<number> {
  const [cmd, ...rest] = argv;
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(USAGE);
    return EXIT.ok;
  }
  try {
    switch (cmd) {
      case 'write': {
        const [sub, ...flags] = rest;
        if (sub === 'rootfs-image' || sub === 'module-image') return await write(sub, flags, io);
        throw new UsageError(`write: unknown artifact kind ${JSON.stringify(sub ?? '')}${didYouMean(sub ?? '', ['rootfs-image', 'module-image']) || ' (rootfs-image or module-image)'}`);
      }
      case 'read':
        return await read(rest, io);
      case 'validate':
        return await validate(rest, io);
      case 'sign':
        return await sign(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return cmd === undefined ? EXIT.usage : EXIT.ok;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}${didYouMean(cmd, ['write', 'read', 'validate', 'sign', 'help'])}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`${e.message}\n${cmd === undefined ? USAGE : ''}`);
      return EXIT.usage;
    }
    if (e instanceof ArtifactError) {
      io.err(`${e.code}: ${e.message}\n`);
      return e.code === 'BAD_KEY' ? EXIT.usage : EXIT.readFailed;
    }
    io.err(`${(e as Error).message}\n`);
    return EXIT.readFailed;
  }
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
