# Flipside A/B boot script for U-Boot (hush). Template: qemu/boot/boot-script.ts fills the
# double-at fields from the board file and compiles it to boot.scr with mkimage.
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
setenv boot_part
setenv upgrade_available
setenv bootcount
setenv bootlimit
if env import -c @@IMP1@@ @@IMP_SIZE@@ @@VARS@@; then setenv fs_valid1 1; fi
if env import -c @@IMP2@@ @@IMP_SIZE@@ @@VARS@@; then setenv fs_valid2 1; fi
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
if itest ${fs_current} == 1 && itest ${fs_valid2} == 1; then env import -c @@IMP1@@ @@IMP_SIZE@@ @@VARS@@; fi
if itest ${fs_current} == 0; then
  echo "flipside: no valid env copy, using defaults"
  setenv fs_save 1
fi
# Missing or nonsense values fall back to defaults instead of stopping the boot.
if itest.s "x${boot_part}" != "x@@PART_A@@" && itest.s "x${boot_part}" != "x@@PART_B@@"; then setenv boot_part @@PART_A@@; setenv fs_save 1; fi
if itest.s "x${bootlimit}" == "x"; then setenv bootlimit @@BOOTLIMIT@@; setenv fs_save 1; fi
if itest.s "x${bootcount}" == "x"; then setenv bootcount 0; setenv fs_save 1; fi
if itest.s "x${upgrade_available}" == "x"; then setenv upgrade_available 0; setenv fs_save 1; fi
echo "flipside: env copy ${fs_current}: boot_part=${boot_part} upgrade_available=${upgrade_available} bootcount=${bootcount} bootlimit=${bootlimit}"
# An upgrade on trial: count this boot; past bootlimit, go back to the other slot (altbootcmd).
if itest.s "x${upgrade_available}" == "x1"; then
  setenv fs_save 1
  setenv fs_next 99
@@BOOTCOUNT_TABLE@@
  setenv bootcount ${fs_next}
  if itest ${bootcount} -gt ${bootlimit}; then
    echo "flipside: bootcount ${bootcount} > bootlimit ${bootlimit}, rolling back"
    if itest.s "x${boot_part}" == "x@@PART_A@@"; then setenv boot_part @@PART_B@@; else setenv boot_part @@PART_A@@; fi
    setenv upgrade_available 0
    setenv bootcount 0
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
setenv fs_root @@ROOT_A@@
if itest.s "x${boot_part}" == "x@@PART_B@@"; then setenv fs_root @@ROOT_B@@; fi
setenv bootargs "console=@@CONSOLE@@ root=${fs_root} ro rootwait panic=3 quiet loglevel=1"
echo "flipside: booting @@IF@@ @@DEV@@:${boot_part} root=${fs_root}"
if load @@IF@@ @@DEV@@:${boot_part} ${kernel_addr_r} /boot/vmlinuz; then
  if load @@IF@@ @@DEV@@:${boot_part} ${ramdisk_addr_r} /boot/initrd.img; then
    @@BOOT_COMMAND@@
  fi
fi
# Loading or booting failed: reset, so the next boot counts again and can roll back.
echo "flipside: boot failed, resetting"
reset
