// The real boards' board files, read by the harness's console and power drivers.
import test from 'ava';
import { loadBoardFile } from '../../boards/load.js';
import { consoleSpecSchema } from '../console/open-console.js';
import { createPower } from '../power/open-power.js';

test("the real boards' lab console and power are valid for the harness drivers", async (t) => {
  for (const name of ['raspberrypi3', 'beaglebone-black']) {
    const b = await loadBoardFile(name);
    t.true(consoleSpecSchema.safeParse(b.lab!.console).success, `${name} console`);
    t.notThrows(() => createPower(b.lab!.power, name), `${name} power`);
  }
});
