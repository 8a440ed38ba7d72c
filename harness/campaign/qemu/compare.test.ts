// Both clients' QEMU campaigns side by side: rows per (step, kind of crash state), and a difference
// named wherever one client failed, reached an outcome the other never did, or booted a kind the
// other's selection had none of.
import test from 'ava';
import { compareRuns, kindOf, outcomesText, type ComparedImage } from './compare.js';

const img = (id: string, step: string, variant: number, label: string, v: ComparedImage['verdict']): ComparedImage => ({ id, step, variant, label, verdict: v });
const ok = (outcome: 'new' | 'old', retried = false) => ({ ok: true, outcome, retried });
const failed = (stage: string, reason: string) => ({ ok: false, stage, reason });

test('the kind of a crash image: from its variant and label, as the report names them', (t) => {
  t.is(kindOf({ variant: 0, label: 'flush boundary' }), 'flush boundary');
  t.is(kindOf({ variant: 3, label: '0 pending writes kept, entry 467 torn (14 of 32 sectors)' }), 'torn write');
  t.is(kindOf({ variant: 1, label: 'all 3 pending writes but entry 12' }), 'one write lost');
  t.is(kindOf({ variant: 2, label: '1 of 3 pending writes (seeded subset)' }), 'seeded subset');
});

test('agreeing runs: every row the same, no difference', (t) => {
  const a = { client: 'flipside', images: [img('1:0', 'install', 0, 'flush boundary', ok('old', true)), img('9:0', 'commit', 0, 'flush boundary', ok('new'))] };
  const b = { client: 'mender', images: [img('4:0', 'install', 0, 'flush boundary', ok('old')), img('30:0', 'commit', 0, 'flush boundary', ok('new'))] };
  const rows = compareRuns(a, b);
  t.deepEqual(rows.map((r) => `${r.step}/${r.kind}`), ['install/flush boundary', 'commit/flush boundary']);
  t.deepEqual(rows.flatMap((r) => r.differences), []);
  t.is(outcomesText(rows[0]!.sides[0]!.outcomes), '1 old, retried');
  t.is(outcomesText(rows[0]!.sides[1]!.outcomes), '1 old');
});

test('a failure on one side, an outcome only one client reached, a kind only one run booted: each named', (t) => {
  const a = {
    client: 'flipside',
    images: [img('5:3', 'install', 3, 'entry 5 torn (3 of 8 sectors)', ok('old')), img('20:0', 'reboot', 0, 'flush boundary', ok('new')), img('2:0', 'boot', 0, 'flush boundary', ok('old'))],
  };
  const b = {
    client: 'mender',
    images: [img('467:3', 'install', 3, 'entry 467 torn (14 of 32 sectors)', failed('env copies', 'env copy 1 is not CRC-valid at the end')), img('600:0', 'reboot', 0, 'flush boundary', ok('old', true))],
  };
  const rows = compareRuns(a, b);
  const by = new Map(rows.map((r) => [`${r.step}/${r.kind}`, r]));
  t.deepEqual(by.get('install/torn write')!.differences, ['mender failed 1 of 1, flipside none of 1']);
  t.deepEqual(by.get('install/torn write')!.sides[1]!.failed, ['467:3: env copies: env copy 1 is not CRC-valid at the end']);
  t.deepEqual(by.get('reboot/flush boundary')!.differences, ['flipside ended on the new version here (1 of 1), mender never (1 image(s))', 'mender ended on the old version here (1 of 1), flipside never (1 image(s))']);
  t.deepEqual(by.get('boot/flush boundary')!.differences, ["only flipside booted this kind of cut (1); mender's selection had none"]);
  t.deepEqual(rows.map((r) => r.step), ['boot', 'install', 'reboot'], 'rows in the order of the update');
});
