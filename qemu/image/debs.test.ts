// The .deb download: what is missing after a failed apt-get download is tried again (a mirror
// mid-sync), what is already there is never fetched twice, and giving up names what is missing.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptErrors, debFileName, downloadPackages, type DebPackage } from './debs.js';

const pkg = (name: string, version: string): DebPackage => ({ name, arch: 'arm64', version, sha256: '0'.repeat(64) });
const kernel = pkg('linux-image-6.1.0-57-arm64', '6.1.192-3');
const libc = pkg('libc6', '2.36-9+deb12u14');
const epoch = pkg('zlib1g', '1:1.2.13.dfsg-1+deb12u1');
const MIRROR_SYNC = `apt-get download …: exit 100
W: Download is performed unsandboxed as root as file 'x.deb' couldn't be accessed by user '_apt'. - pkgAcquire::Run (13: Permission denied)
E: Failed to fetch http://deb.debian.org/debian-security/pool/updates/main/l/linux-signed-arm64/linux-image-6.1.0-57-arm64_6.1.192-3_arm64.deb  File has unexpected size (59850752 != 59804356). Mirror sync in progress? [IP: 203.0.113.80 80]`;

/** A fake apt-get download: each call takes the packages asked for and what to write of them. */
function fakeApt(dir: string, plan: Array<{ write: DebPackage[]; fail?: string }>) {
  const calls: string[][] = [];
  const run = async (cmd: string, args: string[], o: { cwd?: string } = {}) => {
    calls.push(args.slice(1));
    if (cmd !== 'apt-get' || args[0] !== 'download' || o.cwd !== dir) throw new Error(`unexpected ${cmd} ${args.join(' ')}`);
    const step = plan[calls.length - 1];
    if (!step) throw new Error('apt-get called more often than planned');
    for (const p of step.write) writeFileSync(join(dir, debFileName(p)), 'deb');
    if (step.fail) throw new Error(step.fail);
    return '';
  };
  return { run, calls };
}

function scratch(t: { teardown: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-debs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a download the mirror spoiled is tried again for just the missing package, after a wait', async (t) => {
  const dir = scratch(t);
  const apt = fakeApt(dir, [{ write: [libc, epoch], fail: MIRROR_SYNC }, { write: [kernel] }]);
  const waits: number[] = [];
  const lines: string[] = [];
  const paths = await downloadPackages([libc, epoch, kernel], dir, {
    run: apt.run,
    waitMs: (n) => (waits.push(n), 0),
    log: (l) => lines.push(l),
  });
  t.deepEqual(paths, [libc, epoch, kernel].map((p) => join(dir, debFileName(p))));
  t.deepEqual(apt.calls, [
    ['libc6:arm64=2.36-9+deb12u14', 'zlib1g:arm64=1:1.2.13.dfsg-1+deb12u1', 'linux-image-6.1.0-57-arm64:arm64=6.1.192-3'],
    ['linux-image-6.1.0-57-arm64:arm64=6.1.192-3'],
  ]);
  t.deepEqual(waits, [1]);
  t.is(lines.length, 1);
  t.regex(lines[0]!, /1 package\(s\) missing \(Failed to fetch .* File has unexpected size \(59850752 != 59804356\)\. Mirror sync in progress\?/);
  // A second build finds everything in the folder: no apt at all.
  const again = fakeApt(dir, []);
  t.deepEqual(await downloadPackages([libc, epoch, kernel], dir, { run: again.run }), paths);
  t.deepEqual(again.calls, []);
});

test('a mirror that stays broken: after the retries, an error naming what is missing and why', async (t) => {
  const dir = scratch(t);
  const apt = fakeApt(dir, [{ write: [libc], fail: MIRROR_SYNC }, { write: [], fail: MIRROR_SYNC }, { write: [], fail: MIRROR_SYNC }]);
  const err = await t.throwsAsync(downloadPackages([libc, kernel], dir, { run: apt.run, retries: 2, waitMs: () => 0, log: () => undefined }));
  t.is(apt.calls.length, 3);
  t.regex(err!.message, /^apt-get download failed 3 times; still missing linux-image-6\.1\.0-57-arm64_6\.1\.192-3_arm64\.deb: Failed to fetch .*Mirror sync in progress\?/);
});

test('apt exiting non-zero with every file in place (a warning) is not a failure', async (t) => {
  const dir = scratch(t);
  const apt = fakeApt(dir, [{ write: [libc, kernel], fail: 'apt-get download: exit 100\nW: something odd' }]);
  t.is((await downloadPackages([libc, kernel], dir, { run: apt.run, waitMs: () => 0 })).length, 2);
  t.is(apt.calls.length, 1);
});

test('aptErrors: the E: lines, else the first line', (t) => {
  t.is(aptErrors('x: exit 100\nW: warn\nE: one\nE: two'), 'one; two');
  t.is(aptErrors('spawn apt-get ENOENT\nmore'), 'spawn apt-get ENOENT');
});
