import test from 'ava';
import { checkShape, LinkShaper } from './link-shaper.js';

const loss = { rtoMs: 200, maxRetries: 6 };

test('reserve serialises bytes at the rate: 1000 bytes at 8000 kbit/s take 1 ms each', (t) => {
  const l = new LinkShaper(1, loss);
  t.is(l.reserve(1000, 0), 0, 'unshaped: no wait');
  l.set({ rateKbps: 8000 });
  t.is(l.reserve(1000, 100), 0);
  t.is(l.reserve(1000, 100), 1);
  t.is(l.reserve(1000, 100.5), 1.5);
  // An idle link does not bank credit for later bursts.
  t.is(l.reserve(1000, 500), 0);
});

test('segments are about 20 ms of wire time, within 512 B – 16 KiB', (t) => {
  const l = new LinkShaper(1, loss);
  t.is(l.segmentBytes, 64 * 1024);
  l.set({ rateKbps: 8000 });
  t.is(l.segmentBytes, 16 * 1024);
  l.set({ rateKbps: 800 });
  t.is(l.segmentBytes, 2000);
  l.set({ rateKbps: 56 });
  t.is(l.segmentBytes, 512);
});

test('loss draws follow the seed: the same seed replays the same losses', (t) => {
  const draws = (seed: number) => {
    const l = new LinkShaper(seed, loss);
    l.set({ lossPct: 25 });
    return Array.from({ length: 200 }, () => l.lost());
  };
  t.deepEqual(draws(42), draws(42));
  t.notDeepEqual(draws(42), draws(43));
  const lost = draws(7).filter(Boolean).length;
  t.true(lost > 25 && lost < 75, `${lost} of 200 lost at 25%`);
  const none = new LinkShaper(1, loss);
  t.false(Array.from({ length: 100 }, () => none.lost()).some(Boolean));
});

test('latency is reported; bad shapes are refused with the field named', (t) => {
  const l = new LinkShaper(1, loss);
  l.set({ latencyMs: 40 });
  t.is(l.latencyMs, 40);
  t.throws(() => checkShape({ rateKbps: -1 }, 'p'), { message: 'p: rateKbps must be a positive number, got -1' });
  t.throws(() => checkShape({ latencyMs: NaN }, 'p'), { message: /latencyMs must be >= 0/ });
  t.throws(() => checkShape({ lossPct: 101 }, 'p'), { message: /lossPct must be 0–100/ });
  t.notThrows(() => checkShape({ rateKbps: 1, latencyMs: 0, lossPct: 100 }, 'p'));
});
