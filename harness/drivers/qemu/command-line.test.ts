// The QEMU command line the driver builds from a board file: machines with their own SD slot
// (raspi3b), the virt boards, and real boards, which have no qemu section.
import test from 'ava';
import { loadBoardFile } from '../../../boards/load.js';
import { qemuCommandLine } from './vm.js';

const paths = { disk: '/r/disk.img', diskFormat: 'raw' as const, consoleSocket: '/r/c.sock', qmpSocket: '/r/q.sock', pidFile: '/r/pid' };

test('raspi3b command line: -kernel U-Boot, console on the second serial, SD slot, 4 CPUs, no NIC', async (t) => {
  const b = await loadBoardFile('raspberrypi3-qemu');
  const args = qemuCommandLine(b, { ...paths, bios: '/img/qemu-bios.bin', serverPort: 9000 });
  const s = args.join(' ');
  t.true(s.startsWith('-M raspi3b -m 1024 -smp 4 -kernel /img/qemu-bios.bin '));
  t.regex(s, /-serial null -serial chardev:con0 /);
  t.regex(s, /-drive if=sd,id=hd0,file=\/r\/disk\.img,format=raw,cache=unsafe /);
  t.false(s.includes('-netdev'), 'no network on raspi3b');
  t.false(args.includes('-bios'));
});

test('existing boards keep their command line (bios, one serial, virtio disk and NIC)', async (t) => {
  const b = await loadBoardFile('qemu-aarch64');
  const s = qemuCommandLine(b, { ...paths, serverPort: 9000 }).join(' ');
  t.true(s.startsWith('-M virt -cpu cortex-a57 -m 512 -smp 1 -bios /usr/lib/u-boot/qemu_arm64/u-boot.bin '));
  t.is(s.match(/-serial/g)!.length, 1);
  t.regex(s, /-drive if=none,file=\/r\/disk\.img,format=raw,id=hd0,cache=unsafe -device virtio-blk-pci,drive=hd0 /);
  t.regex(s, /-netdev user,id=n0,restrict=on,guestfwd=tcp:10\.0\.2\.100:80-cmd:socat - TCP:127\.0\.0\.1:9000 -device virtio-net-pci,netdev=n0 /);
});

test('a real board has no QEMU command line', async (t) => {
  const b = await loadBoardFile('beaglebone-black');
  t.throws(() => qemuCommandLine(b, paths), { message: /real hardware/ });
});

test('a write log puts blklogwrites between the disk model and the raw file; sd and qcow2 disks are refused', async (t) => {
  const b = await loadBoardFile('qemu-aarch64');
  const s = qemuCommandLine(b, { ...paths, writeLog: '/r/write.log' }).join(' ');
  t.regex(s, /-blockdev driver=blklogwrites,node-name=hd0,log-sector-size=512,log-append=off,file\.driver=file,file\.filename=\/r\/disk\.img,\S*log\.driver=file,log\.filename=\/r\/write\.log\S* -device virtio-blk-pci,drive=hd0 /);
  t.false(s.includes('-drive '));
  t.throws(() => qemuCommandLine(b, { ...paths, diskFormat: 'qcow2', writeLog: '/r/w.log' }), { message: /raw disk/ });
  const pi = await loadBoardFile('raspberrypi3-qemu');
  t.throws(() => qemuCommandLine(pi, { ...paths, writeLog: '/r/w.log' }), { message: /raw disk/ });
});
