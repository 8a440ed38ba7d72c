// Where the repository's folders are, for the lab (harness/), the reference distro (qemu/), bench/
// and the CLIs: one small module, so no room reaches into another's internals for a path.
// Run from the sources (tsx) the root is this file's folder; from a tsc build, dist/.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = dirname(fileURLToPath(import.meta.url));
/** One YAML per board. */
export const BOARDS_DIR = join(REPO_ROOT, 'boards');
/** One file per scenario. */
export const SCENARIOS_DIR = join(REPO_ROOT, 'scenarios');
/** Run reports, one folder per run (git-ignored). */
export const REPORTS_DIR = join(REPO_ROOT, 'reports');
/** Everything rebuilt on demand: images, packages, lab artifacts and keys (git-ignored). */
export const CACHE_DIR = join(REPO_ROOT, '.cache');
/** The image builder's cache: Debian packages, kernels, rootfs and disk images by input hash. */
export const QEMU_CACHE_DIR = join(CACHE_DIR, 'qemu');
/** The lab's cache: artifacts, signing keys, run work folders. */
export const LAB_CACHE_DIR = join(CACHE_DIR, 'lab');
