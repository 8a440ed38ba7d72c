import test from 'ava';
import { checkDepends, matchesWildcard, providesAfterInstall } from './depends.js';
import { ArtifactError } from './errors.js';
import type { ArtifactHeaders, TypeInfo } from './types.js';

function headers(p: { devices?: string[]; names?: string[]; groups?: string[]; typeInfo?: Partial<TypeInfo>; name?: string; group?: string }): ArtifactHeaders {
  return {
    formatVersion: 3,
    name: p.name ?? 'new',
    provides: { artifact_name: p.name ?? 'new', ...(p.group ? { artifact_group: p.group } : {}) },
    depends: { device_type: p.devices ?? ['dev'], ...(p.names ? { artifact_name: p.names } : {}), ...(p.groups ? { artifact_group: p.groups } : {}) },
    payloads: [{ index: 0, type: 'rootfs-image', typeInfo: { type: '', ...p.typeInfo }, metaData: null, files: [] }],
    scripts: [],
    signature: 'none',
    manifest: new Map(),
    compression: 'gzip',
    augmented: false,
  };
}

const refused = (t: import('ava').ExecutionContext, fn: () => void, key: string) => {
  const e = t.throws(fn, { instanceOf: ArtifactError });
  t.is(e?.code, 'REFUSED');
  t.true(e!.message.startsWith(`${key}:`), e?.message);
};

test('device_type must be listed', (t) => {
  t.notThrows(() => checkDepends(headers({ devices: ['a', 'dev'] }), { device_type: 'dev' }));
  refused(t, () => checkDepends(headers({ devices: ['a'] }), { device_type: 'dev' }), 'device_type');
  refused(t, () => checkDepends(headers({}), {}), 'device_type');
});

test('header-info artifact_name and artifact_group depends', (t) => {
  const h = headers({ names: ['r1', 'r2'], groups: ['g'] });
  t.notThrows(() => checkDepends(h, { device_type: 'dev', artifact_name: 'r2', artifact_group: 'g' }));
  refused(t, () => checkDepends(h, { device_type: 'dev', artifact_name: 'r3', artifact_group: 'g' }), 'artifact_name');
  refused(t, () => checkDepends(h, { device_type: 'dev', artifact_name: 'r1' }), 'artifact_group');
});

test('type-info depends: key must exist with a listed value', (t) => {
  const h = headers({ typeInfo: { artifact_depends: { 'rootfs-image.checksum': 'abc', 'app.version': ['1', '2'] } } });
  t.notThrows(() => checkDepends(h, { device_type: 'dev', 'rootfs-image.checksum': 'abc', 'app.version': '2' }));
  refused(t, () => checkDepends(h, { device_type: 'dev', 'rootfs-image.checksum': 'abd', 'app.version': '2' }), 'rootfs-image.checksum');
  refused(t, () => checkDepends(h, { device_type: 'dev', 'rootfs-image.checksum': 'abc' }), 'app.version');
});

test('matchesWildcard: * spans anything, the rest is literal, whole key', (t) => {
  t.true(matchesWildcard('rootfs-image.*', 'rootfs-image.version'));
  t.true(matchesWildcard('rootfs-image.*', 'rootfs-image.app.version'));
  t.false(matchesWildcard('rootfs-image.*', 'rootfs-imageXversion'));
  t.false(matchesWildcard('rootfs-image.*', 'xrootfs-image.version'));
  t.true(matchesWildcard('*mender-docker-compose_*', 'data.mender-docker-compose_web.version'));
  t.true(matchesWildcard('artifact_group', 'artifact_group'));
  t.false(matchesWildcard('artifact_group', 'artifact_groups'));
  t.true(matchesWildcard('a+b(c)', 'a+b(c)'));
});

test('providesAfterInstall: clears apply to the old set unless re-provided', (t) => {
  const current = {
    device_type: 'dev',
    artifact_name: 'old',
    artifact_group: 'oldgroup',
    'rootfs-image.version': 'old',
    'rootfs-image.checksum': 'c0',
    'rootfs-image.app.version': '1',
    'data.version': '7',
  };
  const h = headers({
    name: 'new',
    typeInfo: {
      artifact_provides: { 'rootfs-image.version': 'new', 'rootfs-image.checksum': 'c1' },
      clears_artifact_provides: ['artifact_group', 'rootfs_image_checksum', 'rootfs-image.*'],
    },
  });
  t.deepEqual(providesAfterInstall(current, h), {
    device_type: 'dev',
    artifact_name: 'new',
    'rootfs-image.version': 'new',
    'rootfs-image.checksum': 'c1',
    'data.version': '7',
  });
  // A module update keeps the rootfs provides and replaces only its own.
  const m = headers({ name: 'm2', group: 'g2', typeInfo: { artifact_provides: { 'rootfs-image.app.version': '2' }, clears_artifact_provides: ['rootfs-image.app.*'] } });
  t.deepEqual(providesAfterInstall(current, m), { ...current, artifact_name: 'm2', artifact_group: 'g2', 'rootfs-image.app.version': '2' });
});

test('providesAfterInstall: no clears_artifact_provides at all replaces the old provides (legacy)', (t) => {
  const h = headers({ typeInfo: { artifact_provides: { 'x.version': '1' } } });
  t.deepEqual(providesAfterInstall({ device_type: 'd', artifact_name: 'o', 'y.version': '0' }, h), { device_type: 'd', artifact_name: 'new', 'x.version': '1' });
});
