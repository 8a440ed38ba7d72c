#!/usr/bin/env bash
# Idempotent machine set-up for development and CI on Debian: host packages (image building,
# QEMU, bootloader tools, chromium for browser tests), the foreign architectures the device
# images are built from, then node modules. Safe to run again: it only does what is missing (and
# refreshes apt's lists once a day).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

APT_PACKAGES=(
  zstd xz-utils gzip cpio kmod fakeroot socat                # artifacts, initramfs, guest forwarding
  e2fsprogs dosfstools mtools fdisk                          # filesystems and the disk image
  u-boot-tools libubootenv-tool grub-common                  # mkimage/mkenvimage, fw_printenv, grub-editenv
  u-boot-qemu qemu-system-arm qemu-system-x86 qemu-utils ovmf # the QEMU boards (ovmf: qemu-x86_64-grub-efi)
  qemu-user                                                  # the device client's start-up snapshot, made with the image's node
  busybox-static                                             # applet list for the guest's busybox
  chromium                                                   # report and web UI tests (playwright-core)
  mender-client mender-cli mender-artifact mender-connect    # the real Mender peers (interop tests)
  dbus-daemon                                                # a private bus for mender → mender-connect (D-Bus token)
)
# Packages whose daemon must not start on the build machine: the tests run it in its own mount
# namespace against a loopback server; enabled here it would poll hosted Mender with /etc's config.
NO_SERVICE=(mender-client mender-connect)
FOREIGN_ARCHES=(arm64 armhf)

need_update=0
for a in "${FOREIGN_ARCHES[@]}"; do
  if ! dpkg --print-foreign-architectures | grep -qx "$a"; then
    $SUDO dpkg --add-architecture "$a"
    need_update=1
  fi
done
# Lists older than a day may name .deb versions the mirror has since dropped (the security archive
# keeps only the newest): the image build downloads by exact version, so refresh them once a day per
# checkout (the lists' own mtimes are the mirror's Last-Modified, not when they were fetched).
apt_stamp=.cache/apt-lists-refreshed
if [ -z "$(find "$apt_stamp" -mmin -1440 2>/dev/null)" ]; then need_update=1; fi
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ] || [ "$need_update" = 1 ]; then
  echo "setup: apt-get update${missing[*]:+; installing ${missing[*]}}"
  if $SUDO apt-get update -qq; then
    mkdir -p .cache && touch "$apt_stamp"
  elif [ ${#missing[@]} -gt 0 ]; then
    echo "setup: apt-get update failed" >&2; exit 1
  else
    echo "setup: apt-get update failed; going on with the lists apt has" >&2
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ -d /run/systemd/system ]; then
      for svc in "${NO_SERVICE[@]}"; do
        if [[ " ${missing[*]} " == *" ${svc} "* ]]; then $SUDO systemctl disable --now "${svc}.service" >/dev/null 2>&1 || true; fi
      done
    fi
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# The host CLIs run built bundles (dist/cli/, bin/build.js): build what is stale (about 2 s when
# all four are; bin/launch.js also rebuilds a stale one on its own).
node bin/build.js
