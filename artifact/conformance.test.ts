// Every artifact written by the real mender-artifact 4.0.0 reads back with the same content as
// `mender-artifact read` printed for it (parsed from the .read.txt files), and signed ones verify
// only with the right key.
import test from 'ava';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArtifactError } from './errors.js';
import { formatRead, goTime } from './format.js';
import { readArtifact } from './reader.js';
import { buildTar, bufferStream, splitTar, VECTORS } from './testing/support.js';
import type { ArtifactHeaders } from './types.js';

interface ReadTxt {
  name: string;
  version: number;
  signature: string;
  devices: string[];
  providesGroup: string;
  dependsNames: string[];
  dependsGroups: string[];
  scripts: string[];
  updates: Array<{
    type: string;
    provides: Record<string, string>;
    depends: Record<string, string>;
    clears: string[];
    metaData: Record<string, unknown>;
    files: Array<{ checksum: string; modified: string; name: string; size: number }>;
  }>;
}

const flow = (s: string): string[] => {
  const m = /^\[(.*)\]$/.exec(s.trim());
  if (!m) throw new Error(`not a flow list: ${s}`);
  return m[1] === '' ? [] : m[1]!.split(', ');
};

/** Parses `mender-artifact read` 4.0 output. */
function parseReadTxt(text: string): ReadTxt {
  const lines = text.split('\n');
  let i = 0;
  const field = (label: string): string => {
    const l = lines[i++]!;
    const prefix = `  ${label}:`;
    if (!l.startsWith(prefix)) throw new Error(`expected ${label} at line ${i}: ${l}`);
    return l.slice(prefix.length).replace(/^ /, '');
  };
  if (lines[i++] !== 'Mender Artifact:') throw new Error('not a read output');
  const r: ReadTxt = {
    name: field('Name'),
    version: (field('Format'), Number(field('Version'))),
    signature: field('Signature'),
    devices: flow(field('Compatible devices')),
    providesGroup: field('Provides group'),
    dependsNames: flow(field('Depends on one of artifact(s)')),
    dependsGroups: flow(field('Depends on one of group(s)')),
    scripts: [],
    updates: [],
  };
  const scr = field('State scripts');
  if (scr === '[]') r.scripts = [];
  else while (lines[i]!.startsWith('    - ')) r.scripts.push(lines[i++]!.slice(6));
  while (lines[i] === '') i++;
  if (lines[i++] !== 'Updates:') throw new Error('no Updates');
  const map = (indent: string): Record<string, string> => {
    const out: Record<string, string> = {};
    while (lines[i]?.startsWith(indent) && !lines[i]!.startsWith(`${indent} `)) {
      const l = lines[i++]!.slice(indent.length);
      const k = l.indexOf(': ');
      out[l.slice(0, k)] = l.slice(k + 2);
    }
    return out;
  };
  while (i < lines.length && lines[i]!.startsWith('  - Type: ')) {
    const u: ReadTxt['updates'][number] = { type: lines[i++]!.slice(10), provides: {}, depends: {}, clears: [], metaData: {}, files: [] };
    const section = (label: string) => {
      const l = lines[i++]!;
      if (!l.startsWith(`    ${label}:`)) throw new Error(`expected ${label}: ${l}`);
      return l.slice(label.length + 5).trim();
    };
    u.provides = section('Provides') === '{}' ? {} : map('      ');
    u.depends = section('Depends') === '{}' ? {} : map('      ');
    u.clears = flow(section('Clears Provides'));
    if (section('Metadata') !== '{}') {
      const json: string[] = [];
      while (lines[i]!.startsWith('      ')) json.push(lines[i++]!);
      u.metaData = JSON.parse(json.join('\n'));
    }
    if (section('Files') !== '[]') {
      while (lines[i]?.startsWith('      - ')) {
        const f: Record<string, string> = {};
        const first = lines[i++]!.slice(8);
        f[first.slice(0, first.indexOf(': '))] = first.slice(first.indexOf(': ') + 2);
        Object.assign(f, map('        '));
        u.files.push({ checksum: f.checksum!, modified: f.modified!, name: f.name!, size: Number(f.size) });
      }
    }
    r.updates.push(u);
  }
  return r;
}

const vectors = readdirSync(VECTORS).filter((f) => f.endsWith('.mender')).sort();
const keyFor = (f: string) => (f.includes('ecdsa') ? 'ecdsa-p256' : f.includes('rsa') ? 'rsa3072' : null);
const pub = (k: string) => readFileSync(join(VECTORS, 'keys', `${k}.pub`), 'utf8');

function compare(t: import('ava').ExecutionContext, h: ArtifactHeaders, want: ReadTxt): void {
  t.is(h.name, want.name);
  t.is(h.formatVersion as number, want.version);
  t.deepEqual(h.depends.device_type, want.devices);
  t.is(h.provides.artifact_group ?? '', want.providesGroup);
  t.deepEqual(h.depends.artifact_name ?? [], want.dependsNames);
  t.deepEqual(h.depends.artifact_group ?? [], want.dependsGroups);
  t.deepEqual(
    h.scripts.map((s) => s.name),
    want.scripts,
  );
  t.is(h.payloads.length, want.updates.length);
  h.payloads.forEach((p, i) => {
    const u = want.updates[i]!;
    t.is(p.type ?? 'Empty type', u.type);
    t.deepEqual(p.typeInfo.artifact_provides ?? {}, u.provides);
    t.deepEqual(
      Object.fromEntries(Object.entries(p.typeInfo.artifact_depends ?? {}).map(([k, v]) => [k, Array.isArray(v) ? `[${v.join(' ')}]` : v])),
      u.depends,
    );
    t.deepEqual(p.typeInfo.clears_artifact_provides ?? [], u.clears);
    t.deepEqual(p.metaData ?? {}, u.metaData);
    t.deepEqual(
      p.files.map((f) => ({ checksum: f.checksum, modified: goTime(f.modified), name: f.name, size: f.size })),
      u.files,
    );
  });
}

test('the vector set is there', (t) => {
  t.true(vectors.length >= 11);
});

for (const f of vectors) {
  test(`conformance: ${f} agrees with mender-artifact read`, async (t) => {
    const want = parseReadTxt(readFileSync(join(VECTORS, f.replace(/\.mender$/, '.read.txt')), 'utf8'));
    const k = keyFor(f);
    const h = await readArtifact(join(VECTORS, f), k ? { verifyKeys: [pub(k)] } : {});
    compare(t, h, want);
    t.is(h.signature, want.signature === 'signed and verified correctly' ? 'verified' : 'none');
    // The CLI's human output is the same text, byte for byte.
    t.is(formatRead(h), readFileSync(join(VECTORS, f.replace(/\.mender$/, '.read.txt')), 'utf8'));
  });

  test(`conformance: ${f} reads with the pure-JS decompressors too`, async (t) => {
    const h = await readArtifact(bufferStream(readFileSync(join(VECTORS, f)), 7919), { engine: 'js' });
    t.is(h.signature, keyFor(f) ? 'unverified' : 'none');
    t.true(h.payloads.every((p) => p.files.every((x) => /^[0-9a-f]{64}$/.test(x.checksum))));
  });
}

for (const f of vectors.filter((v) => keyFor(v))) {
  const k = keyFor(f)!;
  const other = k === 'rsa3072' ? 'ecdsa-p256' : 'rsa3072';
  test(`signature: ${f} fails with the ${other} key`, async (t) => {
    const e = await t.throwsAsync(readArtifact(join(VECTORS, f), { verifyKeys: [pub(other)] }), { instanceOf: ArtifactError });
    t.is(e?.code, 'SIGNATURE_INVALID');
  });
  test(`signature: ${f} fails with another ${k} key`, async (t) => {
    const pair =
      k === 'rsa3072'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const e = await t.throwsAsync(readArtifact(join(VECTORS, f), { verifyKeys: [pair.publicKey] }), { instanceOf: ArtifactError });
    t.is(e?.code, 'SIGNATURE_INVALID');
    // Any one of several keys is enough (the Mender client's ArtifactVerifyKeys).
    const h = await readArtifact(join(VECTORS, f), { verifyKeys: [pair.publicKey, pub(k)] });
    t.is(h.signature, 'verified');
  });
}

test('signature: ECDSA written by mender-artifact is raw r||s (64 bytes)', (t) => {
  const sig = readFileSync(join(VECTORS, 'rootfs-signed-ecdsa-p256.internals.txt'), 'utf8').split('### manifest.sig\n')[1]!.split('\n')[0]!;
  t.is(Buffer.from(sig, 'base64').length, 64);
});

test('signature: an ECDSA signature in DER (PKCS#11/KMS signers) verifies too', async (t) => {
  const members = splitTar(readFileSync(join(VECTORS, 'rootfs-signed-ecdsa-p256.mender')));
  const manifest = members.find((m) => m.name === 'manifest')!.body;
  const key = readFileSync(join(VECTORS, 'keys', 'ecdsa-p256.sec1.key'));
  const der = cryptoSign('sha256', manifest, { key: key.toString(), dsaEncoding: 'der' });
  t.true(der.length >= 68 && der.length <= 72);
  const patched = members.map((m) => (m.name === 'manifest.sig' ? { ...m, body: Buffer.from(der.toString('base64')) } : m));
  const h = await readArtifact(bufferStream(buildTar(patched)), { verifyKeys: [pub('ecdsa-p256')] });
  t.is(h.signature, 'verified');
});

test('signature: unsigned artifacts are refused when a key or a signature is required', async (t) => {
  const e1 = await t.throwsAsync(readArtifact(join(VECTORS, 'rootfs-gzip.mender'), { verifyKeys: [pub('rsa3072')] }), { instanceOf: ArtifactError });
  t.is(e1?.code, 'SIGNATURE_REQUIRED');
  const e2 = await t.throwsAsync(readArtifact(join(VECTORS, 'rootfs-gzip.mender'), { requireSignature: true }), { instanceOf: ArtifactError });
  t.is(e2?.code, 'SIGNATURE_REQUIRED');
});
