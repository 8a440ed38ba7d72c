import test from 'ava';
import { crc32 } from './crc32.js';

test('matches the standard CRC-32 check value', (t) => {
  t.is(crc32(Buffer.from('123456789')), 0xcbf43926);
});

test('empty input and chained chunks', (t) => {
  t.is(crc32(Buffer.alloc(0)), 0);
  const whole = Buffer.from('The quick brown fox jumps over the lazy dog');
  t.is(crc32(whole), 0x414fa339);
  t.is(crc32(whole.subarray(10), crc32(whole.subarray(0, 10))), 0x414fa339);
});
