import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientError } from './errors.js';
import { DEFAULT_CONFIG_PATH, loadConfig, MENDER_CONFIG_PATH, parseConfig, readDeviceType } from './config.js';

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
  // Unset: Mender's names, decided against the env (client/install/boot-vars.ts).
  t.is(c.BootVars.BootPart, undefined);
  t.is(c.BootVars.UpgradeAvailable, 'upgrade_available');
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

// The shape of a mender.conf as meta-mender writes it (mender-client 3.x), with keys we do not use.
const MENDER_CONF = {
  ServerURL: 'https://hosted.mender.io',
  TenantToken: 'tenant-token',
  RootfsPartA: '/dev/mmcblk0p2',
  RootfsPartB: '/dev/mmcblk0p3',
  UpdatePollIntervalSeconds: 1800,
  InventoryPollIntervalSeconds: 28800,
  RetryPollIntervalSeconds: 300,
  ServerCertificate: '/etc/mender/server.crt',
  ArtifactVerifyKey: '/etc/mender/artifact-verify-key.pem',
  DBus: { Enabled: true },
};

test('without flipside.conf, Mender\'s mender.conf is read with Mender\'s paths as defaults', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-conf-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const menderConf = join(dir, 'mender.conf');
  writeFileSync(menderConf, JSON.stringify(MENDER_CONF));
  const c = await loadConfig(join(dir, 'flipside.conf'), { dataDir: join(dir, 'data') }, { menderConfig: menderConf });
  t.is(c.source, menderConf);
  t.is(c.ServerURL, 'https://hosted.mender.io');
  t.is(c.RootfsPartA, '/dev/mmcblk0p2');
  t.is(c.RootfsPartB, '/dev/mmcblk0p3');
  t.is(c.UpdatePollIntervalSeconds, 1800);
  t.deepEqual(c.verifyKeyPaths, ['/etc/mender/artifact-verify-key.pem']);
  const raw = c as Record<string, unknown>;
  t.is(raw.TenantToken, 'tenant-token');
  t.is(raw.ServerCertificate, '/etc/mender/server.crt');
  // Mender's locations, not ours: device_type beside Mender's data, its artifact_info, scripts, modules.
  t.is(c.ArtifactInfoFile, '/etc/mender/artifact_info');
  t.is(c.ScriptsDir, '/etc/mender/scripts');
  t.is(c.ModulesDir, '/usr/share/mender/modules/v3');
  t.deepEqual(c.BootEnv, { type: 'uboot', fwEnvConfig: '/etc/fw_env.config' });
  t.is(c.BootVars.BootPart, undefined);
  const plain = parseConfig(MENDER_CONF, MENDER_CONFIG_PATH, {}, 'mender');
  t.is(plain.DataDir, '/var/lib/mender');
  t.is(plain.deviceTypeFile, '/var/lib/mender/device_type');
});

test('mender.conf: its fallback is <DataDir>/mender.conf, as Mender merges them; an empty ServerURL means none', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-conf-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const data = join(dir, 'var-lib-mender');
  mkdirSync(data);
  const menderConf = join(dir, 'mender.conf');
  writeFileSync(menderConf, JSON.stringify({ ...MENDER_CONF, ServerURL: '', DataDir: data }));
  writeFileSync(join(data, 'mender.conf'), JSON.stringify({ UpdatePollIntervalSeconds: 5, Servers: [{ ServerURL: 'https://fallback.example' }], DeviceTypeFile: 'device_type' }));
  // Our own fallback name is not read for a Mender configuration.
  writeFileSync(join(data, 'flipside.conf'), JSON.stringify({ InventoryPollIntervalSeconds: 7 }));
  const c = await loadConfig(join(dir, 'absent.conf'), {}, { menderConfig: menderConf });
  t.is(c.UpdatePollIntervalSeconds, 1800, 'the main file wins');
  t.is(c.InventoryPollIntervalSeconds, 28800);
  t.is(c.ServerURL, undefined);
  t.deepEqual(c.Servers, [{ ServerURL: 'https://fallback.example' }]);
  t.is(c.deviceTypeFile, join(data, 'device_type'), 'a relative path in the fallback is read beside it');
  // meta-mender's default split: RootfsPartA/B only in the persistent fallback on /data.
  const { RootfsPartA, RootfsPartB, ...transient } = MENDER_CONF;
  writeFileSync(menderConf, JSON.stringify({ ...transient, DataDir: data }));
  writeFileSync(join(data, 'mender.conf'), JSON.stringify({ RootfsPartA, RootfsPartB }));
  const split = await loadConfig(join(dir, 'absent.conf'), {}, { menderConfig: menderConf });
  t.is(split.RootfsPartA, '/dev/mmcblk0p2');
  t.is(split.RootfsPartB, '/dev/mmcblk0p3');
  t.is(split.ServerURL, 'https://hosted.mender.io');
  rmSync(join(data, 'mender.conf'));
  t.regex((await t.throwsAsync(loadConfig(join(dir, 'absent.conf'), {}, { menderConfig: menderConf })))!.message, /invalid configuration .*mender\.conf: RootfsPartA: Required; RootfsPartB: Required/);
});

test('mender.conf: errors name Mender\'s file; neither file is a clear error; an explicit --config is never swapped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-conf-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const menderConf = join(dir, 'mender.conf');
  const own = join(dir, 'flipside.conf');
  const none = await t.throwsAsync(loadConfig(own, { dataDir: dir }, { menderConfig: menderConf }), { instanceOf: ClientError });
  t.is(none!.code, 'CONFIG');
  t.is(none!.message, `no configuration: neither ${own} nor Mender's ${menderConf} exists`);
  writeFileSync(menderConf, JSON.stringify({ ServerURL: 'https://x.example', RootfsPartA: '/dev/sda2' }));
  t.regex((await t.throwsAsync(loadConfig(own, { dataDir: dir }, { menderConfig: menderConf })))!.message, new RegExp(`invalid configuration ${menderConf}: RootfsPartB: Required`));
  writeFileSync(menderConf, '{"ServerURL": ');
  t.regex((await t.throwsAsync(loadConfig(own, { dataDir: dir }, { menderConfig: menderConf })))!.message, /mender\.conf is not valid JSON/);
  writeFileSync(menderConf, JSON.stringify({ ...MENDER_CONF, ServerURL: 'not a url' }));
  t.regex((await t.throwsAsync(loadConfig(own, { dataDir: dir }, { menderConfig: menderConf })))!.message, /mender\.conf: ServerURL: Invalid url/);
  // A file named with --config that is missing stays an error about that file.
  writeFileSync(menderConf, JSON.stringify(MENDER_CONF));
  t.regex((await t.throwsAsync(loadConfig(own, {}, { menderConfig: null })))!.message, /cannot read configuration .*flipside\.conf/);
  t.regex((await t.throwsAsync(loadConfig(own)))!.message, /cannot read configuration .*flipside\.conf/, 'only the default path falls back');
  // flipside.conf present: mender.conf is not read at all.
  writeFileSync(own, JSON.stringify({ RootfsPartA: '/dev/a', RootfsPartB: '/dev/b', DataDir: dir }));
  writeFileSync(menderConf, '{ broken');
  t.is((await loadConfig(own, { dataDir: dir }, { menderConfig: menderConf })).RootfsPartA, '/dev/a');
  t.is(DEFAULT_CONFIG_PATH, '/etc/flipside/flipside.conf');
  t.is(MENDER_CONFIG_PATH, '/etc/mender/mender.conf');
});
