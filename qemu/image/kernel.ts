// The kernel and the tiny initramfs: Debian builds virtio and ext4 as modules, so an initramfs
// loads them (and their dependencies, from depmod's modules.dep) before switching to the rootfs.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run } from './exec.js';
import { extractDeb } from './debs.js';

export interface KernelTree {
  root: string;
  release: string;
  /** The kernel image as the bootloader loads it. */
  image: string;
}

/** Extracts the kernel package once into `cacheDir` and runs depmod on it. */
export async function prepareKernel(deb: string, cacheDir: string): Promise<KernelTree> {
  const done = join(cacheDir, '.done');
  if (!existsSync(done)) {
    // Extracted aside and renamed into place: parallel builds share the cache.
    const tmp = `${cacheDir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    await extractDeb(deb, tmp);
    const release = readdirSync(join(tmp, 'lib/modules'))[0];
    if (!release) throw new Error(`${deb}: no lib/modules/<release>`);
    await run('depmod', ['-b', tmp, release]);
    writeFileSync(join(tmp, '.done'), release);
    if (!existsSync(done)) {
      rmSync(cacheDir, { recursive: true, force: true });
      try {
        renameSync(tmp, cacheDir);
      } catch (e) {
        if (!existsSync(done)) throw e;
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  }
  const release = readFileSync(done, 'utf8').trim();
  return { root: cacheDir, release, image: join(cacheDir, 'boot', `vmlinuz-${release}`) };
}

const modName = (path: string) => path.replace(/^.*\//, '').replace(/\.ko(\.[a-z]+)?$/, '').replace(/-/g, '_');

/**
 * Orders the wanted modules and everything they depend on so each comes after its dependencies
 * (insmod order). Names built into the kernel are dropped; an unknown name is an error.
 */
export function moduleLoadOrder(modulesDep: string, builtin: string, wanted: string[]): string[] {
  const deps = new Map<string, { path: string; deps: string[] }>();
  for (const line of modulesDep.split('\n')) {
    const m = line.match(/^([^:]+):\s*(.*)$/);
    if (!m) continue;
    deps.set(modName(m[1]!), { path: m[1]!, deps: m[2]!.split(/\s+/).filter(Boolean).map(modName) });
  }
  const builtins = new Set(builtin.split('\n').filter(Boolean).map(modName));
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    const n = name.replace(/-/g, '_');
    if (seen.has(n) || builtins.has(n)) return;
    const entry = deps.get(n);
    if (!entry) throw new Error(`kernel module ${name} is neither a module nor built in`);
    seen.add(n);
    for (const d of entry.deps) visit(d);
    order.push(entry.path);
  };
  for (const w of wanted) visit(w);
  return order;
}

/** The initramfs /init: load modules, mount root= read-only, hand over to its /sbin/init. */
export function initramfsInit(modules: string[]): string {
  return `#!/bin/sh
# Flipside initramfs: a panic here (exit) makes the kernel reboot with panic=N, so the
# bootloader counts the boot and can roll back.
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for m in ${modules.map((m) => `/lib/modules/${m.replace(/^.*\//, '')}`).join(' ')}; do
  insmod "$m" || echo "initramfs: insmod $m failed"
done
root=
for arg in $(cat /proc/cmdline); do
  case "$arg" in root=*) root="\${arg#root=}" ;; esac
done
i=0
while [ ! -b "$root" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if ! mount -t ext4 -o ro "$root" /newroot; then
  echo "initramfs: cannot mount root=$root; block devices: $(ls /sys/class/block | tr '\\n' ' ')"
  echo "initramfs: modules: $(cut -d' ' -f1 /proc/modules | tr '\\n' ' ')"
  exit 1
fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
`;
}

/** Builds the gzip'd newc cpio: busybox, the modules in load order, /init. Ownership is 0:0. */
export async function buildInitramfs(opts: {
  kernel: KernelTree;
  busybox: string;
  modules: string[];
  workDir: string;
  out: string;
}): Promise<void> {
  const { kernel, workDir } = opts;
  rmSync(workDir, { recursive: true, force: true });
  for (const d of ['bin', 'dev', 'proc', 'sys', 'newroot', 'lib/modules']) mkdirSync(join(workDir, d), { recursive: true });
  const modDir = join(kernel.root, 'lib/modules', kernel.release);
  const order = moduleLoadOrder(
    readFileSync(join(modDir, 'modules.dep'), 'utf8'),
    readFileSync(join(modDir, 'modules.builtin'), 'utf8'),
    opts.modules,
  );
  for (const m of order) copyFileSync(join(modDir, m), join(workDir, 'lib/modules', m.replace(/^.*\//, '')));
  copyFileSync(opts.busybox, join(workDir, 'bin/busybox'));
  chmodSync(join(workDir, 'bin/busybox'), 0o755);
  symlinkSync('busybox', join(workDir, 'bin/sh'));
  writeFileSync(join(workDir, 'init'), initramfsInit(order), { mode: 0o755 });
  mkdirSync(dirname(opts.out), { recursive: true });
  // Sorted names and fixed owner make the archive depend only on its contents.
  await run('sh', ['-c', `find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -n -6 > "$OUT"`], {
    cwd: workDir,
    env: { ...process.env, OUT: opts.out } as Record<string, string>,
  });
}
