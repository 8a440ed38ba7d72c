import test from 'ava';
import { join } from 'node:path';
import { readArtifact } from '../../artifact/reader.js';
import { ClientError } from '../errors.js';
import { checkCompatible, providesAfter } from './compat.js';

const C = '/work/shared/conformance/mender-artifact-4.0.0';

test('rootfs-depends-provides: device type, artifact name, group and type-info depends are each enforced', async (t) => {
  const h = await readArtifact(join(C, 'rootfs-depends-provides.mender'));
  const good = { artifact_name: 'release-1', artifact_group: 'groupA', foo: 'bar' };
  t.notThrows(() => checkCompatible(h, 'raspberrypi4', good));
  t.notThrows(() => checkCompatible(h, 'qemux86-64', good));
  const cases: Array<[string, Record<string, string>, ClientError['code'], RegExp]> = [
    ['beaglebone', good, 'DEVICE_TYPE', /this device is beaglebone/],
    ['qemux86-64', { ...good, artifact_name: 'release-0' }, 'DEPENDS', /artifact_name: header-info depends on one of \[release-1\], the device has "release-0"/],
    ['qemux86-64', { ...good, artifact_group: 'groupZ' }, 'DEPENDS', /artifact_group: .*\[groupA\].*"groupZ"/],
    ['qemux86-64', { artifact_name: 'release-1', artifact_group: 'groupA' }, 'DEPENDS', /foo: payload 0 depends on one of \[bar\], the device provides no foo/],
  ];
  for (const [dt, p, code, re] of cases) {
    const e = t.throws(() => checkCompatible(h, dt, p), { instanceOf: ClientError });
    t.is(e?.code, code);
    t.regex(e!.message, re);
  }
});

test('providesAfter applies clears_artifact_provides globs, then the new provides, name and group', async (t) => {
  const h = await readArtifact(join(C, 'rootfs-depends-provides.mender'));
  const after = providesAfter(
    { artifact_name: 'release-1', artifact_group: 'groupA', 'rootfs-image.version': 'x', 'rootfs-image.myos.version': '1', other: 'kept' },
    h,
  );
  t.deepEqual(after, {
    artifact_name: 'release-2',
    artifact_group: 'groupB',
    other: 'kept',
    'custom.key': 'custom-value',
    'rootfs-image.checksum': '6f401263bdcd9f8fdd51866b0b55c73690f5909f70e78a5456f30f73f3e9952a',
    'rootfs-image.myos.version': '2.0.0',
  });
  // Applying it twice (a commit re-run after a kill) gives the same result.
  t.deepEqual(providesAfter(after, h), after);
});

test('artifacts with no payload, two payloads or an empty payload type are refused', async (t) => {
  const h = await readArtifact(join(C, 'rootfs-gzip.mender'));
  const p = h.payloads[0]!;
  for (const payloads of [[], [p, { ...p, index: 1 }], [{ ...p, type: null }]]) {
    const e = t.throws(() => checkCompatible({ ...h, payloads }, 'qemux86-64', { artifact_name: 'x' }), { instanceOf: ClientError });
    t.is(e?.code, 'PAYLOAD_TYPE');
  }
});
