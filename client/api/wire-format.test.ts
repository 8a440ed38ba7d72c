import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { parseContentRange } from './content-range.js';
import { goJson, goStruct } from './go-json.js';
import { parseRetryAfter } from './retry-after.js';
import { joinUrl } from './url.js';
import { loadServerCa } from './http.js';
import { NetworkError, DownloadError } from './errors.js';
import { downloadWithResume } from './download.js';

test('goJson: sorted map keys, Go HTML escaping, struct order kept by goStruct', (t) => {
  t.is(goJson({ b: 1, a: ['<x>', '&'], c: null }), '{"a":["\\u003cx\\u003e","\\u0026"],"b":1,"c":null}');
  t.is(goStruct([['z', 1], ['a', { y: true, x: 'é\u2028' }]]), '{"z":1,"a":{"x":"é\\u2028","y":true}}');
});

test('Content-Range parsing', (t) => {
  t.deepEqual(parseContentRange('bytes 10-99/100'), { start: 10, end: 99, total: 100 });
  t.deepEqual(parseContentRange('bytes 10-99/*'), { start: 10, end: 99, total: null });
  for (const bad of [undefined, '', 'bytes */100', 'bytes 10-9/100', 'bytes 0-100/100', 'items 0-1/2', 'bytes 1-2/3/4']) {
    t.is(parseContentRange(bad), null, String(bad));
  }
});

test('Retry-After: seconds or HTTP date', (t) => {
  t.is(parseRetryAfter('30'), 30_000);
  t.is(parseRetryAfter(new Date(2_000_000_000_000 + 5000).toUTCString(), 2_000_000_000_000), 5000);
  t.is(parseRetryAfter('soon'), null);
  t.is(parseRetryAfter(undefined), null);
});

test('server URLs: path prefix kept, trailing slash and bare hosts handled', (t) => {
  t.is(joinUrl('https://h/prefix/', '/api/x'), 'https://h/prefix/api/x');
  t.is(joinUrl('h.example.com:8443', 'api/x'), 'https://h.example.com:8443/api/x');
});

test('ServerCertificate: merged with the system CAs; unreadable or empty files are typed errors', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flipside-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.is(await loadServerCa(undefined), undefined);
  const pem = rootCertificates[0]!;
  await writeFile(join(dir, 'ca.crt'), `junk\n${pem}\n`);
  const list = await loadServerCa(join(dir, 'ca.crt'));
  t.is(list!.length, rootCertificates.length + 1);
  t.is(list!.at(-1), pem);
  await writeFile(join(dir, 'empty.crt'), 'nothing here');
  await t.throwsAsync(loadServerCa(join(dir, 'empty.crt')), { instanceOf: NetworkError, message: /no PEM certificate/ });
  await t.throwsAsync(loadServerCa(join(dir, 'missing.crt')), { instanceOf: NetworkError, message: /cannot read/ });
});

test('download: a URL that is not http(s) is a typed error', async (t) => {
  const e = await t.throwsAsync(
    (async () => {
      for await (const _ of downloadWithResume('ftp://x/a')) void _;
    })(),
    { instanceOf: DownloadError },
  );
  t.is(e!.code, 'BAD_URL');
});
