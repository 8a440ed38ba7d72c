# Flipside A/B boot script for U-Boot (hush). Template: qemu/boot/boot-script.ts fills the
# double-at fields from the board file and compiles it to boot.scr with mkimage.
#
# It speaks Mender's U-Boot integration (meta-mender's env_mender.h), so Mender's client and ours
# both work on this board: the env holds mender_boot_part (the rootfs partition, decimal, for
# root=) and mender_boot_part_hex (the same number in hex, for U-Boot's `load dev:part`),
# upgrade_available, bootcount, bootlimit and the canary pair mender_check_saveenv_canary /
# mender_saveenv_canary. Debian's U-Boot builds have no Mender patches (no BOOTCOUNT_ENV, no env
# on the disk), so this script does their work itself: the bootcount/altbootcmd rule of
# CONFIG_BOOTCOUNT_LIMIT + BOOTCOUNT_ENV, mender_setup, mender_altbootcmd, mender_try_to_recover.
#
# The env is redundant, as libubootenv's fw_setenv writes it: two copies, each
# [crc32 (4)][flags (1)][data], CRC over the data only. U-Boot's `env import -c` wants
# [crc32][data], so each copy is rearranged in RAM first; a copy whose CRC fails is ignored.
# With both valid the newer flags byte wins (255 -> 0 wraps; equal means copy 1), which is
# the rule fw_printenv uses, so both sides always agree on the current copy.
echo "flipside: boot script (@@BOARD@@)"
# Load addresses where the board overrides U-Boot's defaults (empty otherwise).
@@LOAD_ADDRS@@
setenv fs_valid1 0
setenv fs_valid2 0
setenv fs_save 0
@@IF@@ read @@RAW1@@ @@SECT1@@ @@NSECT@@
@@IF@@ read @@RAW2@@ @@SECT2@@ @@NSECT@@
cp.b @@RAW1@@ @@IMP1@@ 4
cp.b @@RAW1_DATA@@ @@IMP1_DATA@@ @@DATA_SIZE@@
cp.b @@RAW2@@ @@IMP2@@ 4
cp.b @@RAW2_DATA@@ @@IMP2_DATA@@ @@DATA_SIZE@@
@@CLEAR_VARS@@
if env import -c @@IMP1@@ @@IMP_SIZE@@ @@IMPORT_VARS@@; then setenv fs_valid1 1; fi
if env import -c @@IMP2@@ @@IMP_SIZE@@ @@IMPORT_VARS@@; then setenv fs_valid2 1; fi
setenv fs_current 0
if itest ${fs_valid1} == 1; then setenv fs_current 1; fi
if itest ${fs_valid2} == 1; then
  if itest ${fs_valid1} == 0; then setenv fs_current 2; fi
  if itest ${fs_valid1} == 1; then
    if itest.b *@@FLAG2@@ -gt *@@FLAG1@@; then setenv fs_current 2; fi
    if itest.b *@@FLAG1@@ == 0 && itest.b *@@FLAG2@@ == 0xff; then setenv fs_current 1; fi
    if itest.b *@@FLAG1@@ == 0xff && itest.b *@@FLAG2@@ == 0; then setenv fs_current 2; fi
  fi
fi
# The env now holds copy 2 where it was valid; take copy 1 back when it is the newer one.
if itest ${fs_current} == 1 && itest ${fs_valid2} == 1; then env import -c @@IMP1@@ @@IMP_SIZE@@ @@IMPORT_VARS@@; fi
if itest ${fs_current} == 0; then
  echo "flipside: no valid env copy, using defaults"
  setenv fs_save 1
fi
# Missing or nonsense values fall back to Mender's defaults instead of stopping the boot.
if itest.s "x${mender_boot_part}" != "x@@PART_A@@" && itest.s "x${mender_boot_part}" != "x@@PART_B@@"; then
  # An env written before Flipside spoke Mender's names keeps the slot in boot_part: carry it over once.
  if itest.s "x${boot_part}" == "x@@PART_A@@" || itest.s "x${boot_part}" == "x@@PART_B@@"; then
    echo "flipside: migrating boot_part=${boot_part} to mender_boot_part"
    setenv mender_boot_part ${boot_part}
  else
    setenv mender_boot_part @@PART_A@@
  fi
  setenv fs_save 1
fi
# boot_part is not saved again (the save exports Mender's variables only).
setenv boot_part
# mender_boot_part_hex always names the same partition as mender_boot_part (U-Boot loads from it).
setenv fs_part_hex @@PART_A_HEX@@
if itest.s "x${mender_boot_part}" == "x@@PART_B@@"; then setenv fs_part_hex @@PART_B_HEX@@; fi
if itest.s "x${mender_boot_part_hex}" != "x${fs_part_hex}"; then setenv mender_boot_part_hex ${fs_part_hex}; setenv fs_save 1; fi
if itest.s "x${bootlimit}" == "x"; then setenv bootlimit @@BOOTLIMIT@@; setenv fs_save 1; fi
if itest.s "x${bootcount}" == "x"; then setenv bootcount 0; setenv fs_save 1; fi
if itest.s "x${upgrade_available}" == "x"; then setenv upgrade_available 0; setenv fs_save 1; fi
# mender_setup: prove once that the bootloader can save the env (Mender's client refuses to
# install while mender_check_saveenv_canary=1 and mender_saveenv_canary is not 1).
if itest.s "x${mender_saveenv_canary}" != "x1"; then setenv mender_saveenv_canary 1; setenv fs_save 1; fi
echo "flipside: env copy ${fs_current}: mender_boot_part=${mender_boot_part} mender_boot_part_hex=${mender_boot_part_hex} upgrade_available=${upgrade_available} bootcount=${bootcount} bootlimit=${bootlimit}"
# CONFIG_BOOTCOUNT_LIMIT with BOOTCOUNT_ENV: only a boot with upgrade_available=1 is counted (and
# saved); past bootlimit, altbootcmd runs instead of bootcmd. altbootcmd = mender_altbootcmd:
# the other slot, upgrade_available=0, saveenv. bootcount keeps its value, as in Mender (it is
# not read again until the next install sets it to 0).
if itest.s "x${upgrade_available}" == "x1"; then
  setenv fs_save 1
  setenv fs_next 99
@@BOOTCOUNT_TABLE@@
  setenv bootcount ${fs_next}
  if itest ${bootcount} -gt ${bootlimit}; then
    echo "flipside: bootcount ${bootcount} > bootlimit ${bootlimit}, rolling back (altbootcmd)"
    if itest.s "x${mender_boot_part}" == "x@@PART_A@@"; then
      setenv mender_boot_part @@PART_B@@
      setenv mender_boot_part_hex @@PART_B_HEX@@
    else
      setenv mender_boot_part @@PART_A@@
      setenv mender_boot_part_hex @@PART_A_HEX@@
    fi
    setenv upgrade_available 0
  fi
fi
# Save into the copy that is not current, with flags one above the current copy's: the same
# single write fw_setenv makes, so a torn write leaves the current copy as it was.
if itest ${fs_save} == 1; then
  env export -c -s @@IMP_SIZE@@ @@EXP@@ @@VARS@@
  cp.b @@EXP@@ @@OUT@@ 4
  cp.b @@EXP_DATA@@ @@OUT_DATA@@ @@DATA_SIZE@@
  mw.b @@OUT_FLAG@@ 1
  setenv fs_target_sect @@SECT1@@
  setenv fs_cur_flag @@FLAG1@@
  if itest ${fs_current} == 1; then setenv fs_target_sect @@SECT2@@; fi
  if itest ${fs_current} == 2; then setenv fs_cur_flag @@FLAG2@@; fi
  if itest ${fs_current} != 0; then
@@FLAG_INCREMENT@@
  fi
  @@IF@@ write @@OUT@@ ${fs_target_sect} @@NSECT@@
  echo "flipside: env saved at sector ${fs_target_sect}"
fi
# mender_setup: the kernel's root= from mender_boot_part, U-Boot's partition from mender_boot_part_hex.
setenv mender_kernel_root @@ROOT_A@@
if itest.s "x${mender_boot_part}" == "x@@PART_B@@"; then setenv mender_kernel_root @@ROOT_B@@; fi
setenv bootargs "console=@@CONSOLE@@ root=${mender_kernel_root} ro rootwait panic=3 quiet loglevel=1"
echo "flipside: booting @@IF@@ @@DEV@@:${mender_boot_part_hex} root=${mender_kernel_root}"
if load @@IF@@ @@DEV@@:${mender_boot_part_hex} ${kernel_addr_r} /boot/vmlinuz; then
  if load @@IF@@ @@DEV@@:${mender_boot_part_hex} ${ramdisk_addr_r} /boot/initrd.img; then
    @@BOOT_COMMAND@@
  fi
fi
# mender_try_to_recover: loading or booting failed. On a trial boot, reset: the next boot counts
# again and rolls back. A committed slot has nothing to go back to: stop here, as Mender does.
if itest.s "x${upgrade_available}" == "x1"; then
  echo "flipside: boot failed, resetting (mender_try_to_recover)"
  reset
fi
echo "flipside: boot failed and no upgrade is pending: nothing to roll back to"
