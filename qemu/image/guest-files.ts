// The text of every file the builder writes into the guest rootfs (besides packages): PID 1,
// the client's configuration, fw_env.config, identity and inventory scripts. Pure functions, so
// tests read exactly what a device gets.
import type { BoardFile } from '../../boards/schema.js';
import { fwEnvConfig, partition, type DiskLayout } from './layout.js';
import { GRUB_ENV_VARS, GRUB_GUEST_MOUNT, GRUBENV_GUEST_PATH } from '../boot/grub-cfg.js';

export type ImageVariant = 'good' | 'broken-kernel' | 'broken-init';

/** The guest side of QEMU user networking (recipe: restrict=on, the server behind guestfwd). */
export const GUEST_NET = { address: '10.0.2.15/24', gateway: '10.0.2.2', server: '10.0.2.100' };

export const CLIENT_DISABLE_FILE = '/data/flipside/client.disabled';

/**
 * How init mounts the FAT boot partition: read-only at /uboot for U-Boot (nothing in Linux writes
 * it), read-write where GRUB keeps its grubenv (the client writes that file).
 */
export function bootMount(board: BoardFile): { dir: string; options: string } {
  return board.bootloader.type === 'grub' ? { dir: GRUB_GUEST_MOUNT, options: 'rw,sync,flush' } : { dir: '/uboot', options: 'ro' };
}

/** The updater an image carries: ours (a Node bundle) or Debian's Mender client (`--client mender`). */
export type GuestClient = 'flipside' | 'mender';

/** Mender keeps its state in /var/lib/mender: on a Mender board a link to the data partition, as here. */
export const MENDER_DATA_DIR = '/data/mender';

/** How init starts each client's daemon (managed mode), its output on the console with a prefix. */
function startClient(kind: GuestClient): string {
  if (kind === 'mender')
    return `mkdir -p ${MENDER_DATA_DIR}
if [ -x /usr/bin/mender ] && [ -s /etc/mender/mender.conf ] && [ ! -e ${CLIENT_DISABLE_FILE} ]; then
  echo "flipside: starting mender"
  # Mender logs to stderr without syslog; each line gets a prefix so the harness can tell it from command output.
  ( /usr/bin/mender --no-syslog daemon 2>&1 | while IFS= read -r l; do echo "mender daemon: $l"; done; echo "flipside: client exited" ) </dev/null >/dev/console 2>&1 &
fi`;
  return `if [ -x /usr/bin/flipside ] && [ -s /etc/flipside/flipside.conf ] && [ ! -e ${CLIENT_DISABLE_FILE} ]; then
  echo "flipside: starting client"
  # The exit line lets the harness tell "client died" from "client slow".
  ( /usr/bin/flipside daemon; echo "flipside: client exited with status $?" ) </dev/null >/dev/console 2>&1 &
fi`;
}

/** Where a deviceconnect-console board's second daemon keeps its own state (never the updater's). */
export const CONNECT_DATA_DIR = '/data/flipside-connect';

/**
 * The harness's shell on a board without a serial console (qemu.harnessConsole: deviceconnect):
 * a second daemon, like mender-connect beside mender, with its own data folder so it never resumes
 * or reports the standalone updates the scenarios run from the shell it opens. Its config (written
 * there per scenario by the board: connectDaemonConfig) enables Connect and polls rarely: it shares
 * the device's CPU with the commands the scenarios run.
 */
function startConnectDaemon(): string {
  return `if [ -x /usr/bin/flipside ] && [ -s ${CONNECT_DATA_DIR}/flipside.conf ]; then
  echo "flipside: starting the connect daemon"
  # The harness accepts the device when it first asks: retry within a second, not Mender's minute.
  ( FLIPSIDE_TEST_BACKOFF_UNIT_MS=1000 /usr/bin/flipside -c ${CONNECT_DATA_DIR}/flipside.conf daemon; echo "flipside: connect daemon exited with status $?" ) </dev/null >/dev/console 2>&1 &
fi
`;
}

/**
 * The connect daemon's own config: the image's server (QEMU: the bundled server behind guestfwd;
 * a lab board: the user's server, with its CA where it has one) and partitions, Connect on, no
 * frequent polls.
 */
export function connectDaemonConfig(layout: DiskLayout, o: { serverUrl?: string; serverCertificate?: string } = {}): Record<string, unknown> {
  return clientConfig(layout, {
    serverUrl: o.serverUrl ?? `http://${GUEST_NET.server}:80`,
    extra: {
      DataDir: CONNECT_DATA_DIR,
      PidFile: `${CONNECT_DATA_DIR}/flipside.pid`,
      Connect: { Enabled: true },
      UpdatePollIntervalSeconds: 86400,
      InventoryPollIntervalSeconds: 86400,
      ...(o.serverCertificate ? { ServerCertificate: o.serverCertificate } : {}),
    },
  });
}

/** The image runs the connect daemon: the harness's shell goes through the server (QEMU's harnessConsole, a lab board's console). */
export function hasConnectConsole(board: BoardFile): boolean {
  return board.qemu?.harnessConsole === 'deviceconnect' || board.lab?.console.type === 'deviceconnect';
}

export function initScript(board: BoardFile, layout: DiskLayout, client: GuestClient = 'flipside'): string {
  const data = partition(layout, 'data').device;
  const boot = partition(layout, 'boot').device;
  const bm = bootMount(board);
  return `#!/bin/sh
# Flipside reference init (PID 1): mounts, network, the client, then a console shell forever.
# Kept small so boots stay fast under emulation; the client does the real work.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=vt100
mount -t proc proc /proc
mount -t sysfs sysfs /sys
[ -c /dev/null ] || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
root=
for arg in $(cat /proc/cmdline); do case "$arg" in root=*) root="\${arg#root=}" ;; esac; done
. /etc/flipside/artifact_info
echo "flipside: init root=$root artifact_name=$artifact_name"
# A power cut can tear /data's superblock or leave its metadata half-written (the QEMU crash-image
# campaign booted one): check it before mounting, as systemd-fsck does on Mender's images.
if [ -x /sbin/e2fsck.static ]; then
  /sbin/e2fsck.static -p ${data}
  rc=$?
  if [ $rc -ge 4 ]; then echo "flipside: e2fsck -p ${data} exited with $rc; repairing with -y"; /sbin/e2fsck.static -y ${data}; fi
fi
mount -t ext4 -o noatime ${data} /data || echo "flipside: cannot mount /data (${data})"
mkdir -p /data/flipside
mount -t vfat -o ${bm.options} ${boot} ${bm.dir} || echo "flipside: cannot mount the boot partition (${boot})"
hostname ${board.name}
ip link set lo up
ip link set eth0 up && ip addr add ${GUEST_NET.address} dev eth0 && ip route add default via ${GUEST_NET.gateway}
${startClient(client)}
${hasConnectConsole(board) ? startConnectDaemon() : ''}echo "flipside: init done"
while true; do
  setsid cttyhack /bin/sh -l
done
`;
}

/**
 * `fw_printenv` on a GRUB board, as Mender's grub-mender-grubenv provides one: the grubenv's
 * variables in the same `name=value` form, so people and the harness read either bootloader alike.
 */
export function grubFwPrintenv(): string {
  return `#!/bin/sh
# fw_printenv for GRUB: prints ${GRUBENV_GUEST_PATH} (read-only; the client writes it).
env=${GRUBENV_GUEST_PATH}
[ -r "$env" ] || { echo "fw_printenv: cannot read $env" >&2; exit 1; }
head -c 24 "$env" | grep -q '^# GRUB Environment Block' || { echo "fw_printenv: $env is not a GRUB environment block" >&2; exit 1; }
vars=$(grep -a -v '^#' "$env" | grep -a '=')
[ $# -eq 0 ] && { echo "$vars"; exit 0; }
rc=0
for name in "$@"; do
  line=$(echo "$vars" | grep -a "^$name=") || { echo "## Error: \\"$name\\" not defined" >&2; rc=1; continue; }
  echo "$line"
done
exit $rc
`;
}

/** PID 1 that exits at once: the kernel panics and reboots (panic=3), for rollback tests. */
export function brokenInitScript(): string {
  return `#!/bin/sh
echo "flipside: broken init, exiting"
exit 1
`;
}

export function profile(board: BoardFile): string {
  return `export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PS1='${board.console.shellPrompt}'
`;
}

export interface ClientConfigOptions {
  /** Default flipside. */
  kind?: GuestClient;
  serverUrl: string;
  /** The board boots with GRUB: the client edits the grubenv on the boot partition. */
  grub?: boolean;
  serverCa?: boolean;
  extra?: Record<string, unknown>;
}

/** What either client's config says alike (mender.conf keys): the server, the A/B partitions. */
function serverAndPartitions(layout: DiskLayout, opts: ClientConfigOptions): Record<string, unknown> {
  return {
    ServerURL: opts.serverUrl,
    ...(opts.serverCa ? { ServerCertificate: '/etc/flipside/server.crt' } : {}),
    RootfsPartA: partition(layout, 'rootfsA').device,
    RootfsPartB: partition(layout, 'rootfsB').device,
  };
}

/** Short polls: scenarios wait on the daemon. */
const POLL_INTERVALS = { UpdatePollIntervalSeconds: 5, InventoryPollIntervalSeconds: 30, RetryPollIntervalSeconds: 5 };

export function clientConfig(layout: DiskLayout, opts: ClientConfigOptions): Record<string, unknown> {
  return {
    ...serverAndPartitions(layout, opts),
    DataDir: '/data/flipside',
    DeviceTypeFile: '/etc/flipside/device_type',
    ArtifactInfoFile: '/etc/flipside/artifact_info',
    IdentityScript: '/usr/share/flipside/identity/flipside-device-identity',
    InventoryScriptsDir: '/usr/share/flipside/inventory',
    ...(opts.grub
      ? {
          BootEnv: { type: 'grub', envFile: GRUBENV_GUEST_PATH },
          BootVars: { BootPart: GRUB_ENV_VARS.bootPart, UpgradeAvailable: GRUB_ENV_VARS.upgradeAvailable, BootCount: GRUB_ENV_VARS.bootCount },
        }
      : { BootEnv: { type: 'uboot', fwEnvConfig: '/etc/fw_env.config' } }),
    ...POLL_INTERVALS,
    // PID 1 is a shell script that does not handle busybox's reboot signal: reboot directly.
    RebootCommand: ['reboot', '-f'],
    ...opts.extra,
  };
}

/**
 * /etc/mender/mender.conf for Debian's Mender client on this board: the same server, partitions
 * and poll intervals as the Flipside client's config. The device type and artifact_info stay in the
 * rootfs (/etc/mender), the state on the data partition (/var/lib/mender → /data/mender); no D-Bus
 * (no system bus on the reference image) and no tenant token (the lab server has none).
 */
export function menderConfig(layout: DiskLayout, opts: ClientConfigOptions): Record<string, unknown> {
  return {
    ...serverAndPartitions(layout, opts),
    DeviceTypeFile: '/etc/mender/device_type',
    ...POLL_INTERVALS,
    DBus: { Enabled: false },
    ...opts.extra,
  };
}

/**
 * `reboot` for Mender's daemon, which runs it from PATH: PID 1 here is a shell script that does not
 * handle busybox's reboot signal, so reboot directly (as the Flipside client's RebootCommand does).
 */
export const MENDER_REBOOT = '#!/bin/sh\nsync\nexec /usr/bin/busybox reboot -f\n';

/**
 * `fw_setenv` as Mender's client finds it first in PATH: the real one, each call logged on the
 * console (`flipside: fw_setenv …`, its script too), with the lab's hold hook around the write that
 * sets upgrade_available (Mender prints no states; that write is the step that matters, and it may
 * call fw_setenv for other variables first): with FLIPSIDE_TEST_HOLD_AT=fw_setenv (before it) or
 * fw_setenv:done (after it) in the command's environment, which Mender passes on, it prints
 * `FLIPSIDE-HOLD <point>` and waits for the power cut.
 */
export const MENDER_FW_SETENV = `#!/bin/sh
hold() { echo "FLIPSIDE-HOLD $1" >/dev/console; while :; do sleep 1; done; }
script=
[ "$1" = -s ] && script=$(cat "$2")
echo "flipside: fw_setenv $* $(echo $script)" >/dev/console
flip=
case "$* $script" in *upgrade_available*) flip=1 ;; esac
[ -n "$flip" ] && [ "$FLIPSIDE_TEST_HOLD_AT" = fw_setenv ] && hold fw_setenv
if [ "$1" = -s ]; then printf '%s\\n' "$script" | /usr/bin/fw_setenv -s -; else /usr/bin/fw_setenv "$@"; fi
rc=$?
sync
[ -n "$flip" ] && [ "$FLIPSIDE_TEST_HOLD_AT" = fw_setenv:done ] && hold fw_setenv:done
exit $rc
`;

/** Every small file of /etc and /usr/share/flipside, path → [content, mode]. */
export function guestFiles(
  board: BoardFile,
  layout: DiskLayout,
  opts: { version: string; variant: ImageVariant; client?: ClientConfigOptions },
): Map<string, [string, number]> {
  const f = new Map<string, [string, number]>();
  const kind = opts.client?.kind ?? 'flipside';
  f.set('sbin/init', [opts.variant === 'broken-init' ? brokenInitScript() : initScript(board, layout, kind), 0o755]);
  f.set('etc/profile', [profile(board), 0o644]);
  f.set('etc/hostname', [`${board.name}\n`, 0o644]);
  f.set('etc/hosts', [`127.0.0.1 localhost\n${GUEST_NET.server} flipside-server\n`, 0o644]);
  f.set('etc/passwd', ['root:x:0:0:root:/root:/bin/sh\n', 0o644]);
  f.set('etc/group', ['root:x:0:\n', 0o644]);
  if (layout.env) f.set('etc/fw_env.config', [fwEnvConfig(layout), 0o644]);
  // The rootfs has no /boot/grub of its own: the boot partition is mounted there.
  if (board.bootloader.type === 'grub') f.set(`${GRUB_GUEST_MOUNT.slice(1)}/.boot-partition-mounts-here`, ['', 0o644]);
  if (board.bootloader.type === 'grub') f.set('usr/sbin/fw_printenv', [grubFwPrintenv(), 0o755]);
  f.set('etc/flipside/device_type', [`device_type=${board.deviceType}\n`, 0o644]);
  f.set('etc/flipside/artifact_info', [`artifact_name=${opts.version}\n`, 0o644]);
  if (opts.client && kind === 'flipside') f.set('etc/flipside/flipside.conf', [JSON.stringify(clientConfig(layout, { ...opts.client, grub: board.bootloader.type === 'grub' }), null, 2) + '\n', 0o644]);
  if (opts.client && kind === 'mender') {
    if (board.bootloader.type !== 'uboot') throw new Error(`${board.name}: --client mender needs a U-Boot board (Debian's Mender client has no GRUB support built in)`);
    f.set('etc/mender/mender.conf', [JSON.stringify(menderConfig(layout, opts.client), null, 2) + '\n', 0o644]);
    f.set('etc/mender/device_type', [`device_type=${board.deviceType}\n`, 0o644]);
    f.set('etc/mender/artifact_info', [`artifact_name=${opts.version}\n`, 0o644]);
    f.set('usr/sbin/reboot', [MENDER_REBOOT, 0o755]);
    f.set('usr/sbin/fw_setenv', [MENDER_FW_SETENV, 0o755]);
  }
  const identity = '#!/bin/sh\n# Identity: the MAC of eth0, as Mender\'s example script does.\necho "mac=$(cat /sys/class/net/eth0/address)"\n';
  f.set('usr/share/flipside/identity/flipside-device-identity', [identity, 0o755]);
  if (kind === 'mender') f.set('usr/share/mender/identity/mender-device-identity', [identity, 0o755]);
  const inventory: Record<string, string> = {
    os: '#!/bin/sh\necho "os=Debian bookworm (flipside reference)"\necho "kernel=$(uname -r)"\n',
    hostinfo: '#!/bin/sh\necho "hostname=$(hostname)"\necho "cpu_model=$(uname -m)"\necho "mem_total_kB=$(awk \'/MemTotal/{print $2}\' /proc/meminfo)"\n',
    network: '#!/bin/sh\necho "ipv4_eth0=$(ip -4 -o addr show eth0 | awk \'{print $4}\')"\necho "mac_eth0=$(cat /sys/class/net/eth0/address)"\n',
  };
  for (const [name, script] of Object.entries(inventory)) {
    f.set(`usr/share/flipside/inventory/flipside-inventory-${name}`, [script, 0o755]);
    if (kind === 'mender') f.set(`usr/share/mender/inventory/mender-inventory-${name}`, [script, 0o755]);
  }
  return f;
}
