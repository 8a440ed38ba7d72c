import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpTransport, SimDevice, type Transport } from '../../server-mock/testing/device-sim.js';
import { makeArtifact } from '../../server-mock/testing/fixtures.js';
import { Timeline } from '../run/timeline.js';
import { LabServer } from './lab-server.js';

/** A device behind the fault proxy that names the server as a QEMU guest does (Host: 10.0.2.100:80). */
function guestTransport(lab: LabServer): Transport {
  const http = httpTransport(`http://127.0.0.1:${lab.devicePort}`);
  return (req) => http({ ...req, headers: { ...req.headers, host: '10.0.2.100:80' } });
}

async function downloadLinkSeenBy(deviceHost: string | undefined): Promise<string> {
  const lab = await LabServer.start(new Timeline(), deviceHost ? { deviceHost } : {});
  try {
    const device = new SimDevice(guestTransport(lab), { deviceType: 'lab-test', artifactName: 'lab-1' });
    await device.authenticate();
    const id = await lab.acceptDevice(device.identity, 30_000);
    const t = await device.authenticate();
    if (t.status !== 200) throw new Error(`device not accepted: ${t.status}`);
    const file = join(mkdtempSync(join(tmpdir(), 'flipside-lab-server-')), 'lab-2.mender');
    writeFileSync(file, await makeArtifact('lab-2', ['lab-test']));
    await lab.upload(file);
    await lab.deploy('lab-2', id);
    const { update } = await device.checkUpdate();
    return update?.artifact.source.uri ?? 'no update offered';
  } finally {
    await lab.close();
  }
}

test('download links point where the board said its device reaches the server', async (t) => {
  t.regex(await downloadLinkSeenBy('10.0.2.100'), /^http:\/\/10\.0\.2\.100:80\//);
});

test('without it, a Host header nobody configured never shapes a link (the server falls back to its own address)', async (t) => {
  t.regex(await downloadLinkSeenBy(undefined), /^http:\/\/127\.0\.0\.1:\d+\//);
});
