// The CLI end to end: spawned as a process for the write → read → validate → sign round trip,
// in-process (main) for the exit codes of the error paths.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, main } from './cli.js';
import { pseudoRandom, tempDir, VECTORS } from './testing/support.js';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const cli = join(root, 'artifact', 'cli.ts');
const keys = join(VECTORS, 'keys');

function run(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function inProcess(args: string[]) {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

test('spawned: write rootfs-image signed, read, read --json, validate', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  writeFileSync(join(dir, 'rootfs.ext4'), pseudoRandom(100_000, 1));
  writeFileSync(join(dir, 'ArtifactInstall_Enter_00'), '#!/bin/sh\nexit 0\n');
  const out = join(dir, 'a.mender');
  const w = run(['write', 'rootfs-image', '-n', 'release-2', '-t', 'qemux86-64', '-t', 'rpi4', '-f', join(dir, 'rootfs.ext4'), '-o', out,
    '-k', join(keys, 'rsa3072.key'), '-N', 'release-1', '-g', 'grpB', '-G', 'grpA', '-p', 'custom.key:v', '-d', 'foo:bar',
    '-s', join(dir, 'ArtifactInstall_Enter_00'), '--compression', 'zstd_fast', '--software-version', '2.0', '--no-progress']);
  t.is(w.code, 0, w.err);
  const r = run(['read', '-k', join(keys, 'rsa3072.pub'), out]);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /^Mender Artifact:\n {2}Name: release-2\n/);
  t.regex(r.out, /Signature: signed and verified correctly/);
  t.regex(r.out, /Compatible devices: \[qemux86-64, rpi4\]/);
  t.regex(r.out, /rootfs-image.version: 2.0/);
  const j = await inProcess(['read', '--json', out]);
  t.is(j.code, 0);
  const parsed = JSON.parse(j.out);
  t.is(parsed.name, 'release-2');
  t.is(parsed.signature, 'unverified');
  t.is(parsed.compression, 'zstd');
  t.deepEqual(parsed.depends, { artifact_name: ['release-1'], device_type: ['qemux86-64', 'rpi4'], artifact_group: ['grpA'] });
  t.is(parsed.payloads[0].files[0].size, 100_000);
  t.deepEqual(parsed.scripts.map((s: { name: string }) => s.name), ['ArtifactInstall_Enter_00']);
  const v = run(['validate', '-k', join(keys, 'rsa3072.pub'), out]);
  t.is(v.code, 0, v.err);
  t.is(v.out, `Artifact file '${out}' validated successfully\n`);
  const wrong = await inProcess(['validate', '-k', join(keys, 'ecdsa-p256.pub'), out]);
  t.is(wrong.code, EXIT.invalid);
});

test('spawned: write module-image, sign in place, validate, re-sign needs -f', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  writeFileSync(join(dir, 'one'), 'one\n');
  writeFileSync(join(dir, 'two'), 'two\n');
  writeFileSync(join(dir, 'meta.json'), '{"b": 2, "a": "x"}');
  const out = join(dir, 'm.mender');
  t.is((await inProcess(['write', 'module-image', '-T', 'single-file', '-n', 'm1', '-t', 'dev', '-f', join(dir, 'one'), '-f', join(dir, 'two'), '-m', join(dir, 'meta.json'), '-o', out])).code, 0);
  const before = readFileSync(out);
  const s = run(['sign', '-k', join(keys, 'ecdsa-p256.key'), out]);
  t.is(s.code, 0, s.err);
  t.false(readFileSync(out).equals(before));
  t.is((await inProcess(['validate', '-k', join(keys, 'ecdsa-p256.pub'), out])).code, 0);
  const again = await inProcess(['sign', '-k', join(keys, 'rsa3072.key'), out]);
  t.is(again.code, 1);
  t.regex(again.err, /already signed/);
  const signed2 = join(dir, 'm2.mender');
  t.is((await inProcess(['sign', '-f', '-k', join(keys, 'rsa3072.key'), '-o', signed2, out])).code, 0);
  t.is((await inProcess(['validate', '-k', join(keys, 'rsa3072.pub'), signed2])).code, 0);
  const r = await inProcess(['read', signed2]);
  t.regex(r.out, /Metadata:\n {6}\{\n {8}"a": "x",\n {8}"b": 2\n {6}\}/);
});

test('read output equals mender-artifact read for a vector', async (t) => {
  const r = await inProcess(['read', '-k', join(keys, 'ecdsa-p256.pub'), join(VECTORS, 'module-empty-signed-ecdsa-zstd.mender')]);
  t.is(r.code, 0);
  t.is(r.out, readFileSync(join(VECTORS, 'module-empty-signed-ecdsa-zstd.read.txt'), 'utf8'));
  const wrongKey = await inProcess(['read', '-k', join(keys, 'rsa3072.pub'), join(VECTORS, 'rootfs-signed-ecdsa-p256.mender')]);
  t.is(wrongKey.code, 0, 'like mender-artifact, read reports a failed verification without failing');
  t.regex(wrongKey.out, /Signature: signed; verification using provided key failed/);
});

test('exit codes: usage 1, cannot open 3, invalid 4, read failure 1', async (t) => {
  t.is((await inProcess([])).code, EXIT.usage);
  t.is((await inProcess(['frobnicate'])).code, EXIT.usage);
  t.is((await inProcess(['write', 'rootfs-image', '-t', 'd', '-f', 'x'])).code, EXIT.usage, 'missing -n');
  t.is((await inProcess(['write', 'rootfs-image', '-n', 'a b', '-t', 'd', '-f', 'x'])).code, EXIT.usage, 'whitespace in name');
  t.is((await inProcess(['write', 'module-image', '-n', 'a', '-t', 'd', '--bogus'])).code, EXIT.usage);
  t.is((await inProcess(['write', 'rootfs-image', '-n', 'a', '-t', 'd', '-f', 'x', '-p', 'nocolon'])).code, EXIT.usage);
  t.is((await inProcess(['write', 'rootfs-image', '-n', 'a', '-t', 'd', '-f', '/nonexistent/file', '-o', '/tmp/x.mender', '--no-progress'])).code, EXIT.create);
  t.is((await inProcess(['read', '/nonexistent.mender'])).code, EXIT.open);
  t.is((await inProcess(['validate', '/nonexistent.mender'])).code, EXIT.open);
  t.is((await inProcess(['validate', join(VECTORS, 'rootfs-signed-rsa3072.mender')])).code, EXIT.invalid, 'signed but no key: missing verifier');
  t.is((await inProcess(['validate', '-k', join(keys, 'rsa3072.pub'), join(VECTORS, 'rootfs-gzip.mender')])).code, EXIT.invalid, 'key but unsigned');
  t.is((await inProcess(['read', join(VECTORS, 'README.md')])).code, EXIT.readFailed);
  t.is((await inProcess(['validate', join(VECTORS, 'README.md')])).code, EXIT.invalid);
  t.is((await inProcess(['sign', join(VECTORS, 'rootfs-gzip.mender')])).code, EXIT.usage, 'sign without -k');
  const ok = await inProcess(['validate', join(VECTORS, 'rootfs-gzip.mender')]);
  t.is(ok.code, 0);
  t.is(ok.out, readFileSync(join(VECTORS, 'rootfs-gzip.validate.txt'), 'utf8').split('\n')[0]!.replace("'rootfs-gzip.mender'", `'${join(VECTORS, 'rootfs-gzip.mender')}'`) + '\n');
});

test('write to stdout with -o -', (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  writeFileSync(join(dir, 'f'), 'x');
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'write', 'module-image', '-T', 't', '-n', 'n', '-t', 'd', '-f', join(dir, 'f'), '-o', '-', '--compression', 'none'], { cwd: root });
  t.is(r.status, 0);
  t.is(r.stdout.subarray(0, 7).toString(), 'version');
  t.is(r.stdout.length % 512, 0);
});

test('typos get a suggestion; a missing input file is named, and nothing is written', async (t) => {
  t.regex((await inProcess(['wirte'])).err, /unknown command "wirte" \(did you mean write\?\)/);
  t.regex((await inProcess(['write', 'rootfs-imag'])).err, /unknown artifact kind "rootfs-imag" \(did you mean rootfs-image\?\)/);
  t.regex((await inProcess(['write', 'rootfs-image', '--fil', 'x'])).err, /flag provided but not defined: --fil \(did you mean --file\?\)/);
  t.notRegex((await inProcess(['xyzzy'])).err, /did you mean/);
  const out = join(mkdtempSync(join(tmpdir(), 'flipside-cli-missing-')), 'out.mender');
  const r = await inProcess(['write', 'rootfs-image', '-f', '/nonexistent/rootfs.ext4', '-n', 'a', '-t', 'x', '-o', out]);
  t.is(r.code, EXIT.create);
  t.is(r.err, 'can not create artifact file: the input file "/nonexistent/rootfs.ext4" does not exist (given with --file)\n');
  t.false(existsSync(out));
});
