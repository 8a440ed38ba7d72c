import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataFileCommands, writeDataFiles } from './data-files.js';

test('a file in a folder the image lacks gets the folder first', (t) => {
  const cmds = dataFileCommands({ '/data/flipside-connect/sub/flipside.conf': { path: '/host/conf' } }, () => '');
  t.deepEqual(cmds, ['cd /', 'mkdir flipside-connect', 'mkdir flipside-connect/sub', 'cd /flipside-connect/sub', 'rm flipside.conf', 'write /host/conf flipside.conf']);
  t.deepEqual(dataFileCommands({ '/data/top.txt': { path: '/h' } }, () => ''), ['cd /', 'rm top.txt', 'write /h top.txt']);
  t.throws(() => dataFileCommands({ '/etc/x': { path: '/h' } }, () => ''), { message: /only files under \/data/ });
});

test('files land in new and existing folders of a real ext4, replacing what was there', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'data-files-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const img = join(dir, 'data.img');
  execFileSync('mke2fs', ['-q', '-t', 'ext4', img, '4M']);
  execFileSync('debugfs', ['-w', '-R', 'mkdir flipside', img], { stdio: 'ignore' });
  await writeDataFiles(img, 0, { '/data/flipside/a.txt': { content: Buffer.from('old') } }, dir);
  await writeDataFiles(img, 0, { '/data/flipside/a.txt': { content: Buffer.from('new') }, '/data/flipside-connect/flipside.conf': { content: Buffer.from('{}') } }, dir);
  const cat = (p: string) => execFileSync('debugfs', ['-R', `cat ${p}`, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  t.is(cat('/flipside/a.txt'), 'new');
  t.is(cat('/flipside-connect/flipside.conf'), '{}');
});
