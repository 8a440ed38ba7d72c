import test from 'ava';
import { chmod, mkdtemp, rm, writeFile, mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeviceKey } from '../identity/device-key.js';
import { ApiClient } from '../api/client.js';
import { ApiError } from '../api/errors.js';
import { startServer, send } from '../api/server.fake.js';
import { collectInventory, listInventoryScripts } from './collect.js';
import { InventorySender, inventoryBody, HASH_FILE } from './send.js';

async function tmp(t: { teardown(f: () => Promise<void>): void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'flipside-inv-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function script(dir: string, name: string, body: string, mode = 0o755): Promise<void> {
  await writeFile(join(dir, name), `#!/bin/sh\n${body}\n`);
  await chmod(join(dir, name), mode);
}

test('collects executable mender-inventory-* output, merges repeats into lists, adds built-ins', async (t) => {
  const dir = await tmp(t);
  await script(dir, 'mender-inventory-os', 'echo os="Debian GNU/Linux 12 (bookworm)"');
  await script(dir, 'mender-inventory-fake', 'echo fake_attr=hello; echo fake_multi=a; echo fake_multi=b; echo device_type=lies');
  await script(dir, 'mender-inventory-more', 'echo fake_attr=again');
  await script(dir, 'mender-inventory-notexec', 'echo skipped=1', 0o644);
  await script(dir, 'other-tool', 'echo skipped=2');
  await script(dir, 'mender-inventory-broken', 'echo no-equals-sign');
  await script(dir, 'mender-inventory-fails', 'echo x=1; exit 1');
  const warnings: string[] = [];
  const attrs = await collectInventory({
    dir,
    deviceType: 'qemux86-64',
    provides: { artifact_name: 'release-2', 'rootfs-image.version': 'release-2' },
    clientVersion: '9.9.9',
    warn: (m) => warnings.push(m),
  });
  t.deepEqual(attrs, [
    { name: 'artifact_name', value: 'release-2' },
    { name: 'device_type', value: 'qemux86-64' },
    { name: 'fake_attr', value: ['hello', 'again'] },
    { name: 'fake_multi', value: ['a', 'b'] },
    { name: 'mender_client_version', value: '9.9.9' },
    { name: 'os', value: 'Debian GNU/Linux 12 (bookworm)' },
    { name: 'rootfs-image.version', value: 'release-2' },
  ]);
  t.is(warnings.length, 2);
  t.true(warnings.some((w) => w.includes('mender-inventory-broken')));
  t.true(warnings.some((w) => w.includes('mender-inventory-fails')));
});

test('no inventory dir: built-ins only; artifact_name defaults to unknown', async (t) => {
  const dir = await tmp(t);
  t.deepEqual(await listInventoryScripts(join(dir, 'missing')), []);
  const attrs = await collectInventory({ dir: join(dir, 'missing'), deviceType: 'd', provides: {} });
  t.deepEqual(attrs.map((a) => a.name), ['artifact_name', 'device_type', 'mender_client_version']);
  t.is(attrs[0]!.value, 'unknown');
});

test('sends with PUT, skips an unchanged payload (across restarts), resends after invalidate or change', async (t) => {
  const dir = await tmp(t);
  await mkdir(join(dir, 'data'));
  let status = 200;
  const srv = await startServer((req, res) => (req.path.endsWith('/auth_requests') ? send(res, 200, 'a.b.c') : send(res, status)));
  t.teardown(srv.close);
  const key = await createDeviceKey(dir, 'ed25519');
  const api = new ApiClient({ servers: [srv.url], key, identity: async () => '{"mac":"x"}' });
  const puts = () => srv.requests.filter((r) => r.path === '/api/devices/v1/inventory/device/attributes');
  const attrs = [
    { name: 'device_type', value: 'd' },
    { name: 'fake_multi', value: ['a', 'b'] },
  ];
  const sender = new InventorySender(api, join(dir, 'data'));
  t.is(await sender.send(attrs), 'sent');
  t.is(puts()[0]!.method, 'PUT');
  t.is(puts()[0]!.headers['content-type'], 'application/json');
  t.is(puts()[0]!.body.toString(), '[{"name":"device_type","value":"d"},{"name":"fake_multi","value":["a","b"]}]');
  t.is(await sender.send(attrs), 'unchanged');
  t.is(await new InventorySender(api, join(dir, 'data')).send(attrs), 'unchanged');
  t.is(await sender.send([...attrs, { name: 'x', value: '1' }]), 'sent');
  await sender.invalidate();
  t.is(await sender.send([...attrs, { name: 'x', value: '1' }]), 'sent');
  t.is(await sender.send([...attrs, { name: 'x', value: '1' }], { force: true }), 'sent');
  t.is(puts().length, 4);
  // A refused send leaves the hash of the last accepted one, so the next try sends again.
  status = 500;
  await t.throwsAsync(sender.send(attrs), { instanceOf: ApiError });
  status = 200;
  t.is(await sender.send(attrs), 'sent');
  t.regex(await readFile(join(dir, 'data', HASH_FILE), 'utf8'), /^[0-9a-f]{64}\n$/);
  await t.throwsAsync(sender.send([]), { instanceOf: TypeError });
});

test('inventory body escapes as Go does', (t) => {
  t.is(inventoryBody([{ name: 'a<b', value: ['x&y'] }]), '[{"name":"a\\u003cb","value":["x\\u0026y"]}]');
});
