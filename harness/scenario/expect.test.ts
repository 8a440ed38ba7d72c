import test from 'ava';
import { envChanges, expectExitNonZero, expectExitZero, expectIncludes } from './expect.js';

test('failed expectations say what was expected and what came', (t) => {
  t.true(expectIncludes('artifact_name=lab-2\n', 'artifact_name=lab-2'));
  t.is(expectIncludes('artifact_name=lab-1\n', 'artifact_name=lab-2'), 'expected artifact_name=lab-2, got artifact_name=lab-1');
  t.is(expectIncludes('', 'x'), 'expected x, got (no output)');
  t.true(expectExitZero({ code: 0 }));
  t.is(expectExitZero({ code: 2, stdout: 'a\nb\nc\nd: checksum mismatch\n' }), 'expected exit 0, got exit 2: b | c | d: checksum mismatch');
  t.true(expectExitNonZero({ code: 1 }));
  t.is(expectExitNonZero({ code: 0, stdout: '' }), 'expected a refusal (non-zero exit), got exit 0');
});

test('env changes are named variable by variable', (t) => {
  const before = 'boot_part=2\nupgrade_available=0\n';
  t.is(envChanges(before, 'boot_part=3\nupgrade_available=1\nbootcount=1\n'), 'boot_part 2 → 3, upgrade_available 0 → 1, bootcount (unset) → 1');
  t.is(envChanges(before, before), 'other output: boot_part=2 | upgrade_available=0');
});
