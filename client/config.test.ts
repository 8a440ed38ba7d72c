import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientError } from './errors.js';
import { loadConfig, parseConfig, readDeviceType } from './config.js';

test('defaults follow mender.conf and ours; keys resolve against the config file', (t) => {
  const c = parseConfig({ RootfsPartA: '/dev/mmcblk0p2', RootfsPartB: '/dev/mmcblk0p3', ArtifactVerifyKey: 'keys/a.pem', ArtifactVerifyKeys: ['/k/b.pem'] }, '/etc/flipside/flipside.conf');
  t.is(c.DataDir, '/var/lib/flipside');
  t.is(c.deviceTypeFile, '/var/lib/flipside/device_type');
  t.deepEqual(c.verifyKeyPaths, ['/etc/flipside/keys/a.pem', '/k/b.pem']);
  t.deepEqual(c.BootEnv, { type: 'uboot', fwEnvConfig: '/etc/fw_env.config' });
  t.is(c.StateScriptTimeoutSeconds, 3600);
  t.is(c.StateScriptRetryTimeoutSeconds, 1800);
  t.is(c.StateScriptRetryIntervalSeconds, 60);
  t.is(c.ModuleTimeoutSeconds, 14400);
  t.is(c.ActivePartitionFrom, 'cmdline');
  t.is(c.BootVars.BootPart, 'boot_part');
  t.is(c.BootVars.ValueA, '2');
});

test('--data-dir overrides DataDir and the default device type file follows it', (t) => {
  const c = parseConfig({ RootfsPartA: '/a', RootfsPartB: '/b', DataDir: '/data/x' }, '/etc/f.conf', { dataDir: '/tmp/d' });
  t.is(c.DataDir, '/tmp/d');
  t.is(c.deviceTypeFile, '/tmp/d/device_type');
});

test('errors name the file and every bad key', (t) => {
  const bad = [
    [{ RootfsPartA: '/a' }, /RootfsPartB: Required/],
    [{ RootfsPartA: '/a', RootfsPartB: '/a' }, /RootfsPartB: RootfsPartA and RootfsPartB must differ/],
    [{ RootfsPartA: '/a', RootfsPartB: '/b', BootEnv: { type: 'lilo' } }, /BootEnv.type: Invalid discriminator/],
    [{ RootfsPartA: '/a', RootfsPartB: '/b', ActivePartitionFrom: 'guess' }, /ActivePartitionFrom: Invalid enum/],
    [{ RootfsPartA: '/a', RootfsPartB: '/b', BootVars: { ValueA: 'a', ValueB: 'a' } }, /BootVars: ValueA and ValueB must differ/],
    [{ RootfsPartA: '/a', RootfsPartB: '/b', StateScriptTimeoutSeconds: -1 }, /StateScriptTimeoutSeconds/],
    [[], /\(top level\)/],
  ] as const;
  for (const [json, re] of bad) {
    const e = t.throws(() => parseConfig(json, '/etc/x.conf'), { instanceOf: ClientError });
    t.is(e?.code, 'CONFIG');
    t.regex(e!.message, /\/etc\/x\.conf/);
    t.regex(e!.message, re);
  }
});

test('loadConfig: unreadable and non-JSON files are CONFIG errors; device_type is read Mender style', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'flipside-conf-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const f = join(d, 'flipside.conf');
  t.regex((await t.throwsAsync(loadConfig(f)))!.message, /cannot read configuration/);
  await writeFile(f, '{ nope');
  t.regex((await t.throwsAsync(loadConfig(f)))!.message, /not valid JSON/);
  await writeFile(f, JSON.stringify({ RootfsPartA: '/a', RootfsPartB: '/b', DataDir: d, TenantToken: 'kept' }));
  const c = await loadConfig(f);
  t.is((c as Record<string, unknown>).TenantToken, 'kept');
  await t.throwsAsync(readDeviceType(c), { message: /cannot read device type file/ });
  await writeFile(join(d, 'device_type'), 'something=else\n');
  await t.throwsAsync(readDeviceType(c), { message: /no device_type=<type> line/ });
  await writeFile(join(d, 'device_type'), 'device_type=beaglebone\n');
  t.is(await readDeviceType(c), 'beaglebone');
});

test('the fallback config in DataDir fills in keys the main file leaves out; the main file wins', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-conf-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  const main = join(dir, 'flipside.conf');
  writeFileSync(main, JSON.stringify({ RootfsPartA: '/dev/a', RootfsPartB: '/dev/b', DataDir: data, UpdatePollIntervalSeconds: 5 }));
  writeFileSync(join(data, 'flipside.conf'), JSON.stringify({ UpdatePollIntervalSeconds: 99, CommitStatusTimeoutSeconds: 30 }));
  const c = await loadConfig(main);
  t.is(c.UpdatePollIntervalSeconds, 5);
  t.is(c.CommitStatusTimeoutSeconds, 30);
  // A relative key path in the fallback is read beside the fallback, where its author put the key.
  writeFileSync(join(data, 'flipside.conf'), JSON.stringify({ ArtifactVerifyKey: 'verify.pem', ArtifactVerifyKeys: ['/k/b.pem', 'more/c.pem'] }));
  t.deepEqual((await loadConfig(main)).verifyKeyPaths, [join(data, 'verify.pem'), '/k/b.pem', join(data, 'more/c.pem')]);
  writeFileSync(join(data, 'flipside.conf'), '{ not json');
  await t.throwsAsync(loadConfig(main), { message: /data\/flipside\.conf is not valid JSON/ });
});
