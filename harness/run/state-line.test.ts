import test from 'ava';
import { parseStateLine } from './state-line.js';

const json = '{"state":"ArtifactReboot","deployment":"d-1","t":1700000000000}';
const expected = { state: 'ArtifactReboot', deployment: 'd-1', t: 1700000000000 };

test('parses a bare state line', (t) => {
  t.deepEqual(parseStateLine(`FLIPSIDE-STATE ${json}`), expected);
});

test('tolerates kernel, journald and ANSI prefixes, CR and trailing junk', (t) => {
  for (const line of [
    `[   12.345678] FLIPSIDE-STATE ${json}`,
    `<6>[    3.1] node[211]: FLIPSIDE-STATE ${json}\r`,
    `\x1b[0;32mFLIPSIDE-STATE \x1b[0m${json}[  13.0] usb 1-1: new device`,
    `garbage\x00\x07 FLIPSIDE-STATE\t${json}}}}`,
  ]) {
    t.deepEqual(parseStateLine(line), expected, JSON.stringify(line));
  }
});

test('braces inside strings do not end the object early', (t) => {
  const r = parseStateLine('FLIPSIDE-STATE {"state":"X","deployment":"a}{\\"b","t":1}');
  t.deepEqual(r, { state: 'X', deployment: 'a}{"b', t: 1 });
});

test('a null or absent deployment is null', (t) => {
  t.is(parseStateLine('FLIPSIDE-STATE {"state":"Idle","deployment":null,"t":5}')?.deployment, null);
  t.is(parseStateLine('FLIPSIDE-STATE {"state":"Idle","t":5}')?.deployment, null);
});

test('rejects lines that are not well-formed state lines', (t) => {
  for (const line of [
    '',
    'Starting kernel ...',
    'FLIPSIDE-STATE',
    'FLIPSIDE-STATE {"state":"Download","deployment":"d","t":1', // cut mid-line by a power cut
    'FLIPSIDE-STATE {"state":"Download","deployment":"d"}', // no time
    'FLIPSIDE-STATE {"state":"","t":1}',
    'FLIPSIDE-STATE {"state":3,"t":1}',
    'FLIPSIDE-STATE {"state":"A","deployment":7,"t":1}',
    'FLIPSIDE-STATE xx {"state":"A","t":1}', // junk between marker and object
    'FLIPSIDE-STATE ["state"]',
  ]) {
    t.is(parseStateLine(line), null, JSON.stringify(line));
  }
});

test('a later marker is used when the first one is broken', (t) => {
  t.deepEqual(parseStateLine(`$ echo FLIPSIDE-STATE; FLIPSIDE-STATE ${json}`), expected);
});
