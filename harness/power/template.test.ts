import test from 'ava';
import { fillTemplate, templateKeys } from './template.js';

test('fills placeholders, encodes values when asked, lists keys', (t) => {
  t.is(fillTemplate('-l {hub} -p {port}', { hub: '1-1', port: 2 }), '-l 1-1 -p 2');
  t.is(fillTemplate('/o/{name}', { name: 'a b' }, encodeURIComponent), '/o/a%20b');
  t.deepEqual(templateKeys('{a}_{b}={a}'), ['a', 'b', 'a']);
});

test('a missing value names the placeholder and what was given', (t) => {
  t.throws(() => fillTemplate('{hub}', { port: 1 }), { message: 'template "{hub}" uses {hub} but no value was given (have: port)' });
});
