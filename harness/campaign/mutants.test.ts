// The catalogue's modes: every mutant is searched somewhere, managed-only ones on the managed flows
// only, and a standalone mutant left off the managed flows says why; a managed run names the
// mutants it leaves out.
import test from 'ava';
import { MANAGED_BUGS } from '../../client/injected-bug.js';
import { MUTANTS, selectMutants } from './mutants.js';

test('every mutant has a mode; managed-only bugs are managed only; a standalone one off the managed flows says why', (t) => {
  t.true(MUTANTS.length >= 17);
  for (const m of MUTANTS) {
    t.true(m.modes.length > 0, m.name);
    if (MANAGED_BUGS.has(m.name)) t.deepEqual(m.modes, ['managed'], m.name);
    else {
      t.true(m.modes.includes('standalone'), `${m.name} is searched on the standalone flows`);
      if (!m.modes.includes('managed')) t.truthy(m.notManaged, `${m.name} says why it is not searched on the managed flows`);
    }
  }
  const both: string[] = MUTANTS.filter((m) => m.modes.length === 2).map((m) => m.name);
  t.true(['rollback-keeps-boot-part', 'store-in-place', 'no-crc', 'state-after-effect', 'resume-unvalidated', 'skip-fsync'].every((n) => both.includes(n)), `searched in both modes: ${both.join(', ')}`);
});

test('selectMutants: all, a list, none; an unknown name lists the known ones', (t) => {
  t.is(selectMutants('all').length, MUTANTS.length);
  t.deepEqual(selectMutants('store-in-place,no-crc').map((m) => m.name), ['store-in-place', 'no-crc']);
  t.deepEqual(selectMutants('none'), []);
  t.throws(() => selectMutants('nope'), { message: /known: .*store-in-place/ });
});
