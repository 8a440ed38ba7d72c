import test from 'ava';
import { rootPartitionOf, withoutClientLog } from './invariants.js';

test('the root partition number comes from the end of the root device name', (t) => {
  t.is(rootPartitionOf('console=ttyAMA0 root=/dev/vda3 rootwait'), '3');
  t.is(rootPartitionOf('console=ttyS1,115200 root=/dev/mmcblk0p2 rootwait panic=3'), '2');
  t.is(rootPartitionOf('root=/dev/sda12'), '12');
  t.is(rootPartitionOf('console=ttyS0 rootwait'), undefined);
});

test('command output without the daemon lines that share the console', (t) => {
  const out = 'flipside daemon: inventory sent\nFLIPSIDE-STATE {"state":"Idle","deployment":null,"t":1}\nlab-2\n';
  t.deepEqual(withoutClientLog(out), ['lab-2']);
});

test("command output without Mender's log: its daemon's (prefixed by init) and a command's own on stderr", (t) => {
  const out = [
    'mender daemon: time="2026-12-03T06:20:39Z" level=info msg="State transition: update-check [Sync] -> update-fetch [Download_Enter]"',
    'WARN[0000] Could not connect to syslog daemon: Unix syslog delivery error. (use --no-syslog to disable completely) ',
    '\x1b[36mINFO\x1b[0m[0001] Loaded configuration file: /etc/mender/mender.conf',
    'time="2026-12-03T06:20:39Z" level=info msg="Loaded configuration file"',
    'lab-2',
  ].join('\n');
  t.deepEqual(withoutClientLog(out), ['lab-2']);
});
