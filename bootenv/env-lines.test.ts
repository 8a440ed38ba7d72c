import test from 'ava';
import { parseEnvLines } from './env-lines.js';

test('splits at the first =, trims, and skips lines that are not assignments', (t) => {
  t.deepEqual(parseEnvLines('a=1\r\nb=x=y\n[   1.000000] usb 1-1: new device\n=orphan\n c = 2 \n'), { a: '1', b: 'x=y', c: '2' });
});
