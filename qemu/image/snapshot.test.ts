// Which emulator and CPU make a board's client snapshot: V8 refuses a snapshot made for other CPU
// features (its cache tag covers them), so the board's own -cpu, else the architecture's oldest core.
import test from 'ava';
import { loadBoardFile } from '../../boards/load.js';
import { snapshotEmulator } from './snapshot.js';

test('snapshotEmulator: the board file\'s -cpu, else the oldest core of its architecture', async (t) => {
  t.deepEqual(snapshotEmulator(await loadBoardFile('qemu-aarch64')), { binary: 'qemu-aarch64', cpu: 'cortex-a57' });
  t.deepEqual(snapshotEmulator(await loadBoardFile('qemu-armhf')), { binary: 'qemu-arm', cpu: 'cortex-a15' });
  t.deepEqual(snapshotEmulator(await loadBoardFile('raspberrypi3-qemu')), { binary: 'qemu-aarch64', cpu: 'cortex-a53' });
  t.deepEqual(snapshotEmulator(await loadBoardFile('qemu-x86_64')), { binary: 'qemu-x86_64', cpu: 'qemu64' });
});
