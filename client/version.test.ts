import test from 'ava';
import { readFileSync } from 'node:fs';
import { VERSION } from './version.js';

test('VERSION matches package.json', (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  t.is(VERSION, pkg.version);
});
