// Debian packages for a guest architecture: resolve exact versions from the host's apt lists,
// download each .deb once into a cache folder (names carry the version, so the folder is
// content-addressed), and extract without chroot or root.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.js';

export interface DebPackage {
  name: string;
  /** The architecture of the .deb (the guest's, or `all`). */
  arch: string;
  version: string;
  sha256: string;
}

/** Packages of the guest userland (Node 18 from Debian, busybox, libubootenv, a static e2fsck). */
export const USERLAND_PACKAGES = [
  'libc6', 'libgcc-s1', 'libstdc++6', 'zlib1g', 'libbrotli1', 'libc-ares2', 'libicu72',
  'libnghttp2-14', 'libssl3', 'libuv1', 'libnode108', 'nodejs', 'busybox-static',
  'libubootenv0.1', 'libubootenv-tool',
  // A static e2fsck: init checks /data before mounting it (a power cut can tear its superblock).
  'e2fsck-static',
  // zstd for the client's artifact reader (the tool engine, artifact/compression.ts) and the two
  // libraries it loads that the image lacks otherwise: in the qemu-aarch64 guest a 64 MiB zstd
  // install took 45 s of CPU with the tool against 85 s with fzstd, before the `head -c` fix
  // (README, Benchmarks). pzstd and the zstdgrep/zstdless scripts are trimmed (rootfs.ts).
  'zstd', 'liblz4-1', 'liblzma5',
];
/** Node's builtins that Debian externalizes: without them node aborts at start. */
export const ARCH_ALL_PACKAGES = ['node-acorn', 'node-cjs-module-lexer', 'node-undici'];

/**
 * Debian's Mender client (3.4.0 in bookworm, a Go binary linked to GLib for its D-Bus API) and
 * what it needs beyond the userland: GLib's own dependencies (`apt-cache depends --recurse
 * mender-client`, recommends left out: no systemd, no D-Bus here). `--client mender` images.
 */
export const MENDER_CLIENT_PACKAGES = ['mender-client', 'libglib2.0-0', 'liblzma5', 'libffi8', 'libmount1', 'libblkid1', 'libpcre2-8-0', 'libselinux1'];

/** The guest's packages for an image with `client` (the Flipside client is a bundle, not a package). */
export function userlandPackages(client: 'flipside' | 'mender' = 'flipside'): string[] {
  // A package in both lists is resolved and extracted once.
  return client === 'mender' ? [...new Set([...USERLAND_PACKAGES, ...MENDER_CLIENT_PACKAGES])] : [...USERLAND_PACKAGES];
}

/** Parses `apt-cache show` stanzas into packages. */
export function parseAptShow(text: string): DebPackage[] {
  const out: DebPackage[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (k: string) => stanza.match(new RegExp(`^${k}: (.*)$`, 'm'))?.[1]?.trim();
    const name = field('Package');
    const version = field('Version');
    const arch = field('Architecture');
    const sha256 = field('SHA256');
    if (name && version && arch && sha256) out.push({ name, version, arch, sha256 });
  }
  return out;
}

function spec(name: string, arch: string, pins: Record<string, string>): string {
  return `${name}:${arch}${pins[name] ? `=${pins[name]}` : ''}`;
}

/**
 * Resolves names to the candidate versions (or pinned ones). Metapackages such as
 * linux-image-arm64 are not resolved here: see resolveKernelPackage.
 */
export async function resolvePackages(arch: string, pins: Record<string, string>, userland: readonly string[] = USERLAND_PACKAGES): Promise<DebPackage[]> {
  const specs = [
    ...userland.map((n) => spec(n, arch, pins)),
    ...ARCH_ALL_PACKAGES.map((n) => spec(n, 'all', pins)),
  ];
  const found = parseAptShow(await run('apt-cache', ['show', '--no-all-versions', ...specs]));
  const wanted = [...userland, ...ARCH_ALL_PACKAGES];
  const missing = wanted.filter((n) => !found.some((p) => p.name === n));
  if (missing.length)
    throw new Error(
      `apt has no ${missing.join(', ')} for ${arch}: run "dpkg --add-architecture ${arch} && apt-get update"`,
    );
  return wanted.map((n) => found.find((p) => p.name === n)!);
}

/** Follows a kernel metapackage (linux-image-arm64) to the versioned image package. */
export async function resolveKernelPackage(meta: string, arch: string): Promise<DebPackage> {
  const text = await run('apt-cache', ['show', '--no-all-versions', `${meta}:${arch}`]);
  if (!parseAptShow(text).length) throw new Error(`apt has no ${meta}:${arch}`);
  const dep = text.match(/^Depends: (linux-image-[^\s,(]+)/m)?.[1];
  if (!dep) throw new Error(`${meta}: cannot find the kernel image package in its Depends`);
  const [k] = parseAptShow(await run('apt-cache', ['show', '--no-all-versions', `${dep}:${arch}`]));
  if (!k) throw new Error(`apt has no ${dep}:${arch}`);
  return k;
}

/** The file name apt-get download gives a package (epoch colon escaped as %3a). */
export function debFileName(p: DebPackage): string {
  return `${p.name}_${p.version.replace(/:/g, '%3a')}_${p.arch}.deb`;
}

export interface DownloadOptions {
  /** Tries after the first (default 3). */
  retries?: number;
  /** How long to wait before try `n` (1-based); default 15 s, 30 s, 60 s. */
  waitMs?: (n: number) => number;
  run?: typeof run;
  log?: (line: string) => void;
}

/**
 * Downloads the packages not already in `dir`; returns their paths in order. A failed download is
 * tried again for what is still missing: a mirror mid-sync serves files its index does not describe
 * ("File has unexpected size … Mirror sync in progress?", seen in CI), apt deletes them, and a later
 * try gets the right bytes. apt still checks every file against the hash in its lists.
 */
export async function downloadPackages(pkgs: DebPackage[], dir: string, opts: DownloadOptions = {}): Promise<string[]> {
  const { retries = 3, waitMs = (n: number) => 15_000 * 2 ** (n - 1), run: runTool = run, log = (l: string) => console.error(l) } = opts;
  mkdirSync(dir, { recursive: true });
  const missing = () => {
    const have = new Set(readdirSync(dir));
    return pkgs.filter((p) => !have.has(debFileName(p)));
  };
  for (let attempt = 0; ; attempt++) {
    const need = missing();
    if (!need.length) break;
    try {
      await runTool('apt-get', ['download', ...need.map((p) => `${p.name}:${p.arch}=${p.version}`)], { cwd: dir });
      break;
    } catch (err) {
      const left = missing();
      if (!left.length) break; // apt complained (a warning exit) but every file is here
      const why = aptErrors(String((err as Error).message));
      if (attempt >= retries)
        throw new Error(
          `apt-get download failed ${attempt + 1} times; still missing ${left.map(debFileName).join(', ')}: ${why} ` +
            '(if the mirror no longer has these versions, refresh apt\'s lists: sudo apt-get update)',
        );
      const wait = waitMs(attempt + 1);
      log(`apt-get download: ${left.length} package(s) missing (${why}); trying again in ${Math.round(wait / 1000)} s`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  return pkgs.map((p) => {
    const f = join(dir, debFileName(p));
    if (!existsSync(f)) throw new Error(`apt-get download did not produce ${f}`);
    return f;
  });
}

/** apt's `E:` lines from a failed run (the whole message when it has none), for one log line. */
export function aptErrors(message: string): string {
  const errors = message.split('\n').filter((l) => l.startsWith('E: ')).map((l) => l.slice(3).trim());
  return (errors.length ? errors.join('; ') : message.trim().split('\n')[0]!).slice(0, 400);
}

export async function extractDeb(deb: string, into: string): Promise<void> {
  mkdirSync(into, { recursive: true });
  await run('dpkg-deb', ['-x', deb, into]);
}

const APT_LISTS = '/var/lib/apt/lists';

/** Changes whenever `apt-get update` changed what apt would resolve (the host's lists, or `listsDir`). */
export function aptListsFingerprint(listsDir = APT_LISTS): string {
  const h = createHash('sha256');
  if (existsSync(listsDir))
    for (const f of readdirSync(listsDir).sort()) {
      const st = statSync(`${listsDir}/${f}`);
      if (st.isFile()) h.update(`${f}:${st.size}:${st.mtimeMs}\n`);
    }
  return h.digest('hex');
}

/**
 * resolvePackages + resolveKernelPackage, remembered in `cacheFile` until the apt lists change:
 * apt-cache rebuilds its cache on every call where the host keeps none (10 s each here), which
 * would make a cached image build slow.
 */
export async function resolveAll(
  arch: string,
  pins: Record<string, string>,
  kernelMeta: string,
  cacheFile: string,
  userland: readonly string[] = USERLAND_PACKAGES,
): Promise<{ packages: DebPackage[]; kernel: DebPackage }> {
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([aptListsFingerprint(), arch, pins, kernelMeta, userland, ARCH_ALL_PACKAGES]))
    .digest('hex');
  if (existsSync(cacheFile)) {
    const saved = JSON.parse(readFileSync(cacheFile, 'utf8')) as { fingerprint: string; packages: DebPackage[]; kernel: DebPackage };
    if (saved.fingerprint === fingerprint) return saved;
  }
  const [packages, kernel] = await Promise.all([resolvePackages(arch, pins, userland), resolveKernelPackage(kernelMeta, arch)]);
  mkdirSync(cacheFile.replace(/\/[^/]*$/, ''), { recursive: true });
  writeFileSync(cacheFile, JSON.stringify({ fingerprint, packages, kernel }, null, 2));
  return { packages, kernel };
}
