// The retry lookup: the key a settled device prints (run here in the host's sh on a fake /data and
// a fake fw_printenv), and the book of retries that passed.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBlob, fromEnvVars } from '../../../bootenv/uboot-env-format.js';
import { envCopiesCommand, parseEnvCopies, parseRetryKey, RetryBook, retryKeyCommand, sections } from './check-image.js';

function device() {
  const d = mkdtempSync(join(tmpdir(), 'retry-key-'));
  const data = join(d, 'data');
  mkdirSync(join(data, 'flipside'), { recursive: true });
  mkdirSync(join(data, 'lost+found'));
  writeFileSync(join(data, 'canary'), 'canary\n');
  writeFileSync(join(data, 'flipside', 'next.mender'), 'artifact bytes');
  const bin = join(d, 'bin');
  mkdirSync(bin);
  const env = join(d, 'env');
  writeFileSync(env, 'upgrade_available=0\nboot_part=2\nbootcount=0\n');
  writeFileSync(join(bin, 'fw_printenv'), `#!/bin/sh\ncat ${env}\n`);
  chmodSync(join(bin, 'fw_printenv'), 0o755);
  const key = () => {
    const out = execFileSync('sh', ['-c', retryKeyCommand(data)], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' });
    const k = parseRetryKey(out.split('\n'));
    if (!k) throw new Error(`no key in ${out}`);
    return k;
  };
  return { d, data, env, key };
}

test('the retry key: the same settled device gives the same key; any env variable, file content, name or mode changes it', (t) => {
  const x = device();
  const k0 = x.key();
  t.is(x.key(), k0);
  writeFileSync(x.env, 'bootcount=0\nboot_part=2\nupgrade_available=0\n');
  t.is(x.key(), k0, 'the env is sorted: fw_printenv order does not matter');
  writeFileSync(join(x.data, 'lost+found', 'x'), 'fsck leftovers');
  t.is(x.key(), k0, 'lost+found is not what a retry reads');
  writeFileSync(x.env, 'bootcount=1\nboot_part=2\nupgrade_available=0\n');
  const k1 = x.key();
  t.not(k1, k0, 'a leftover bootcount');
  writeFileSync(join(x.data, 'flipside', 'next.mender'), 'artifact bytez');
  const k2 = x.key();
  t.not(k2, k1, 'the artifact the retry installs');
  writeFileSync(join(x.data, 'flipside', 'state.json.tmp'), '');
  const k3 = x.key();
  t.not(k3, k2, 'a stray file of the client');
  chmodSync(join(x.data, 'canary'), 0o600);
  const k4 = x.key();
  t.not(k4, k3, 'a mode');
  symlinkSync('canary', join(x.data, 'link'));
  const k5 = x.key();
  t.not(k5, k4, 'a symlink');
  const last = (t0: number, error: string) => writeFileSync(join(x.data, 'flipside', 'last-deployment.json'), `${JSON.stringify({ id: 'd1', artifactName: 'lab-2', outcome: 'failure', error, t: t0 }, null, 2)}\n`);
  last(1796302853037, 'interrupted in Download');
  const k6 = x.key();
  t.not(k6, k5, 'a last-deployment record');
  last(1796302999999, 'interrupted in Download');
  t.is(x.key(), k6, 'the time the last deployment ended is not part of the key');
  last(1796302999999, 'interrupted in ArtifactInstall');
  t.not(x.key(), k6, 'its outcome and error are');
  rmSync(x.d, { recursive: true });
});

test('parseRetryKey takes sha256sum of stdin, refuses anything else', (t) => {
  const k = 'a'.repeat(64);
  t.is(parseRetryKey(['noise', `${k}  -`]), k);
  t.is(parseRetryKey([`${k}  /data/x`]), null);
  t.is(parseRetryKey(['sha256sum: not found']), null);
});

test('the book keeps the first image whose retry passed per key', (t) => {
  const b = new RetryBook();
  t.is(b.lookup('k'), undefined);
  b.record('k', '51:1');
  b.record('k', '60:0');
  t.is(b.lookup('k'), '51:1');
  t.is(b.lookup('other'), undefined);
  t.is(b.size, 1);
});

test('sections: one shell round trip read back per command; a section whose command failed before its mark is absent', (t) => {
  const m = '--flipside-campaign-section--';
  t.deepEqual(sections(['root=/dev/vda2', m, 'a=1', 'b=2', m, m, 'canary', m]), [['root=/dev/vda2'], ['a=1', 'b=2'], [], ['canary']]);
  t.deepEqual(sections(['root=/dev/vda2', m, 'a=1', m, 'artifact_name=x', m, 'partial canary']), [['root=/dev/vda2'], ['a=1'], ['artifact_name=x']]);
});

test('env copies checked in the guest: the stored CRC against gzip\'s CRC-32 of the data, per fw_env.config line', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'env-copies-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  const size = 0x4000;
  const blob = encodeBlob(fromEnvVars({ mender_boot_part: '2', upgrade_available: '0' }), size, true, 1);
  const disk = join(d, 'disk.img');
  const cfg = join(d, 'fw_env.config');
  writeFileSync(cfg, `# device offset size\n${disk} 0x400000 0x4000\n${disk} 0x404000 0x4000\n`);
  const check = () => parseEnvCopies(execFileSync('sh', ['-c', envCopiesCommand(cfg)], { encoding: 'utf8' }).split('\n'));
  const img = Buffer.alloc(0x400000 + 2 * size);
  blob.copy(img, 0x400000);
  blob.copy(img, 0x404000);
  writeFileSync(disk, img);
  t.deepEqual(check(), [true, true]);
  img[0x404000 + 100] = img[0x404000 + 100]! ^ 0xff; // copy 2 torn in its data
  writeFileSync(disk, img);
  t.deepEqual(check(), [true, false]);
  img.fill(0, 0x400000, 0x400000 + size); // copy 1 never written
  writeFileSync(disk, img);
  t.deepEqual(check(), [false, false]);
  t.is(parseEnvCopies(['sh: od: not found']), null);
  t.false(envCopiesCommand().includes('\n'), 'the board shell takes one line');
});
