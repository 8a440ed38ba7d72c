import test from 'ava';
import { initramfsInit, moduleLoadOrder } from './kernel.js';

const DEP = `kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/crypto/crc32c_generic.ko:
`;

test('dependencies come before the modules that need them, each once', (t) => {
  const order = moduleLoadOrder(DEP, 'kernel/drivers/virtio/virtio.ko\n', ['virtio_pci', 'ext4', 'jbd2', 'crc32c-generic']);
  t.deepEqual(order, [
    'kernel/drivers/virtio/virtio_pci_modern_dev.ko',
    'kernel/drivers/virtio/virtio_pci.ko',
    'kernel/lib/crc16.ko',
    'kernel/fs/mbcache.ko',
    'kernel/fs/jbd2/jbd2.ko',
    'kernel/fs/ext4/ext4.ko',
    'kernel/crypto/crc32c_generic.ko',
  ]);
});

test('built-in modules are skipped, unknown ones are an error', (t) => {
  t.deepEqual(moduleLoadOrder(DEP, 'kernel/drivers/virtio/virtio.ko\n', ['virtio']), []);
  t.throws(() => moduleLoadOrder(DEP, '', ['nosuch']), { message: /nosuch is neither a module nor built in/ });
});

test('the initramfs init loads modules in order and exits (panics) when root cannot be mounted', (t) => {
  const s = initramfsInit(['kernel/lib/crc16.ko', 'kernel/fs/ext4/ext4.ko']);
  t.regex(s, /for m in \/lib\/modules\/crc16\.ko \/lib\/modules\/ext4\.ko; do/);
  t.regex(s, /exec switch_root \/newroot \/sbin\/init/);
  t.regex(s, /cannot mount root=\$root[^\n]*\n(.*\n)*?\s*exit 1\n/);
});
