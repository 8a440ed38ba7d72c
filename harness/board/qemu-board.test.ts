import test from 'ava';
import { loadBoardFile } from '../../boards/load.js';
import { initScript } from '../../qemu/image/guest-files.js';
import { QemuBoard, qemuCapabilities } from './qemu-board.js';
import { LinkStrategy } from '../strategy/link-strategy.js';
import { BoardStrategy } from '../strategy/board-strategy.js';
import { missingNeeds } from '../scenario/select.js';
import powerCutFirstBoot from '../../scenarios/power-cut-first-boot.js';
import happyPath from '../../scenarios/happy-path.js';
import { DEFAULT_VERSIONS } from './lab-artifacts.js';
import { computeLayout } from '../../qemu/image/layout.js';

test('a board reached through the server: no console from power-on, no managed scenarios, a link strategy', async (t) => {
  const net = await QemuBoard.open('qemu-aarch64-netonly');
  t.true(net.strategy instanceof LinkStrategy);
  t.false(net.capabilities.has('boot-console'));
  t.false(net.capabilities.has('server'));
  t.true(net.capabilities.has('bytes-written'));
  t.deepEqual(missingNeeds(powerCutFirstBoot, net), ['boot-console'], 'interrupting U-Boot skips, with the reason');
  t.deepEqual(missingNeeds(happyPath, net), []);
  const serial = await QemuBoard.open('qemu-aarch64');
  t.true(serial.strategy instanceof BoardStrategy);
  t.deepEqual(qemuCapabilities(serial.file), ['boot-console', 'exact-cuts', 'bytes-written', 'network', 'server']);
  t.is(net.versions, DEFAULT_VERSIONS);
});

test("only the deviceconnect board's init starts the connect daemon, in its own data folder", async (t) => {
  const net = await loadBoardFile('qemu-aarch64-netonly');
  const serial = await loadBoardFile('qemu-aarch64');
  t.regex(initScript(net, computeLayout(net)), /\/usr\/bin\/flipside -c \/data\/flipside-connect\/flipside.conf daemon/);
  t.notRegex(initScript(serial, computeLayout(serial)), /flipside-connect/);
});
