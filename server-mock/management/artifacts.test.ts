import test from 'ava';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, uploadArtifact, conformanceArtifact, multipartBody, makeArtifact, createDeployment, acceptedDevice, type TestServer } from '../testing/fixtures.js';

let s: TestServer;
test.before(async () => {
  s = await startTestServer();
});
test.after.always(async () => s?.close());

const list = async () => (await s.app.inject({ method: 'GET', url: '/api/management/v1/deployments/artifacts', headers: s.auth })).json<Array<Record<string, unknown>>>();
const blobCount = () => readdirSync(join(s.dataDir, 'blobs')).length;
const tmpCount = () => readdirSync(join(s.dataDir, 'tmp')).length;

test.serial('upload every conformance artifact; metadata from the reader', async (t) => {
  for (const name of ['rootfs-gzip', 'rootfs-lzma', 'rootfs-zstd', 'rootfs-none', 'rootfs-signed-rsa3072', 'rootfs-signed-ecdsa-p256', 'rootfs-depends-provides', 'module-single-file', 'module-directory', 'module-empty-signed-ecdsa-zstd']) {
    const r = await uploadArtifact(s, conformanceArtifact(name), { description: name });
    // Several conformance files share name+device type: those are refused as Mender does.
    t.true(r.statusCode === 201 || r.statusCode === 409, `${name}: ${r.statusCode} ${r.body}`);
  }
  const arts = await list();
  t.true(arts.length >= 3);
  const gz = arts.find((a) => a.description === 'rootfs-gzip')!;
  t.is(gz.name, 'release-1');
  t.deepEqual(gz.device_types_compatible, ['qemux86-64']);
  t.is((gz.artifact_provides as Record<string, string>)['rootfs-image.version'], 'release-1');
  t.is(gz.size, conformanceArtifact('rootfs-gzip').length);
  t.is(blobCount(), arts.length);
  t.is(tmpCount(), 0);
  const signed = arts.find((a) => a.signed === true);
  t.truthy(signed);
  const one = await s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/artifacts/${gz.id}`, headers: s.auth });
  t.is(one.json<{ id: string }>().id, gz.id as string);
  const link = await s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/artifacts/${gz.id}/download`, headers: s.auth });
  const u = new URL(link.json<{ uri: string }>().uri);
  const dl = await s.app.inject({ method: 'GET', url: u.pathname + u.search });
  t.deepEqual(dl.rawPayload, conformanceArtifact('rootfs-gzip'));
  const rel = await s.app.inject({ method: 'GET', url: '/api/management/v1/deployments/deployments/releases', headers: s.auth });
  t.true(rel.json<Array<{ Name: string; ArtifactsCount: number }>>().some((r) => r.Name === 'release-1' && r.ArtifactsCount >= 1));
  const rel2 = await s.app.inject({ method: 'GET', url: '/api/management/v2/deployments/deployments/releases?name=release-1', headers: s.auth });
  t.is(rel2.json<Array<{ name: string }>>()[0]!.name, 'release-1');
});

test.serial('same name, other device type is a second artifact of the release', async (t) => {
  const r1 = await uploadArtifact(s, await makeArtifact('multi', ['board-a']));
  const r2 = await uploadArtifact(s, await makeArtifact('multi', ['board-b']));
  const r3 = await uploadArtifact(s, await makeArtifact('multi', ['board-b', 'board-c']));
  t.is(r1.statusCode, 201);
  t.is(r2.statusCode, 201);
  t.is(r3.statusCode, 409);
  t.deepEqual(Object.keys(r3.json()).sort(), ['error', 'request_id']);
});

test.serial('invalid uploads: 400 with the reader message, nothing stored, no temp left', async (t) => {
  const before = (await list()).length;
  const blobs = blobCount();
  const good = conformanceArtifact('rootfs-gzip');
  const corrupt = Buffer.from(good);
  corrupt[corrupt.length - 3000] = corrupt[corrupt.length - 3000]! ^ 0xff;
  const cases: Array<[string, Buffer, Record<string, string>]> = [
    ['garbage', Buffer.from('this is not a tar file at all'.repeat(50)), {}],
    ['truncated', good.subarray(0, 3000), {}],
    ['corrupt', corrupt, {}],
    ['size mismatch', await makeArtifact('size-mismatch', ['x']), { size: '12' }],
  ];
  for (const [what, content, fields] of cases) {
    const r = await uploadArtifact(s, content, fields);
    t.is(r.statusCode, 400, `${what}: ${r.body}`);
    t.truthy(r.json<{ error: string }>().error, what);
  }
  const empty = multipartBody({ description: 'x' });
  t.is((await s.app.inject({ method: 'POST', url: '/api/management/v1/deployments/artifacts', headers: { ...s.auth, 'content-type': empty.contentType }, payload: empty.body })).statusCode, 400);
  const wrongField = multipartBody({}, { field: 'file', content: good });
  t.is((await s.app.inject({ method: 'POST', url: '/api/management/v1/deployments/artifacts', headers: { ...s.auth, 'content-type': wrongField.contentType }, payload: wrongField.body })).statusCode, 400);
  t.is((await s.app.inject({ method: 'POST', url: '/api/management/v1/deployments/artifacts', headers: { ...s.auth, 'content-type': 'application/json' }, payload: '{}' })).statusCode, 400);
  t.is((await list()).length, before);
  t.is(blobCount(), blobs);
  t.is(tmpCount(), 0);
});

test.serial('oversized upload: 413, nothing stored', async (t) => {
  const small = await startTestServer({ maxArtifactBytes: 8000 });
  try {
    const r = await uploadArtifact(small, conformanceArtifact('rootfs-gzip'));
    t.is(r.statusCode, 413, r.body);
    t.is((await small.app.flipside.store.listArtifacts()).length, 0);
    t.is(readdirSync(join(small.dataDir, 'tmp')).length, 0);
    t.is(readdirSync(join(small.dataDir, 'blobs')).length, 0);
  } finally {
    await small.close();
  }
});

test.serial('path traversal in artifact ids and names is refused', async (t) => {
  for (const id of ['..%2F..%2Fflipside.db', '..', '%2e%2e%2fkeys', 'a%00b']) {
    const r = await s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/artifacts/${id}`, headers: s.auth });
    t.true(r.statusCode === 400 || r.statusCode === 404, `${id}: ${r.statusCode}`);
    const d = await s.app.inject({ method: 'DELETE', url: `/api/management/v1/deployments/artifacts/${id}`, headers: s.auth });
    t.true(d.statusCode === 400 || d.statusCode === 404, `${id}: ${d.statusCode}`);
  }
  if (!process.env.FLIPSIDE_TEST_DATABASE_URL) t.true(existsSync(join(s.dataDir, 'flipside.db')), 'the data dir is intact');
  // An artifact named like a path is only a name: stored under a generated id.
  const r = await uploadArtifact(s, await makeArtifact('../../etc/passwd', ['x']));
  t.is(r.statusCode, 201, r.body);
  const id = String(r.headers.location).split('/').pop()!;
  t.regex(id, /^[0-9a-f-]{36}$/);
  t.true(existsSync(join(s.dataDir, 'blobs', id)));
});

test.serial('delete: 204, 404 after, 409 while an active deployment needs it', async (t) => {
  const r = await uploadArtifact(s, await makeArtifact('to-delete', ['qemux86-64']));
  const id = String(r.headers.location).split('/').pop()!;
  const d = await acceptedDevice(s);
  const dep = await createDeployment(s, { artifact_name: 'to-delete', devices: [d.deviceId] });
  t.is((await s.app.inject({ method: 'DELETE', url: `/api/management/v1/deployments/artifacts/${id}`, headers: s.auth })).statusCode, 409);
  await s.app.inject({ method: 'PUT', url: `/api/management/v1/deployments/deployments/${dep}/status`, headers: s.auth, payload: { status: 'aborted' } });
  t.is((await s.app.inject({ method: 'DELETE', url: `/api/management/v1/deployments/artifacts/${id}`, headers: s.auth })).statusCode, 204);
  t.false(existsSync(join(s.dataDir, 'blobs', id)));
  t.is((await s.app.inject({ method: 'DELETE', url: `/api/management/v1/deployments/artifacts/${id}`, headers: s.auth })).statusCode, 404);
  t.is((await s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/artifacts/${id}/download`, headers: s.auth })).statusCode, 404);
});

test.serial('artifact routes need a user token', async (t) => {
  t.is((await s.app.inject({ method: 'GET', url: '/api/management/v1/deployments/artifacts' })).statusCode, 401);
  const { body, contentType } = multipartBody({}, { content: conformanceArtifact('rootfs-gzip') });
  const before = (await s.app.flipside.store.listArtifacts()).length;
  t.is((await s.app.inject({ method: 'POST', url: '/api/management/v1/deployments/artifacts', headers: { 'content-type': contentType }, payload: body })).statusCode, 401);
  t.is((await s.app.flipside.store.listArtifacts()).length, before);
});

test.serial('real socket: a large upload the reader refuses early gets 400, not a stall', async (t) => {
  const net = await startTestServer();
  try {
    await net.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (net.app.server.address() as { port: number }).port;
    const junk = Buffer.alloc(6 * 1024 * 1024, 0x41);
    const { body, contentType } = multipartBody({ description: 'junk' }, { content: junk });
    const { httpTransport } = await import('../testing/device-sim.js');
    const r = await httpTransport(`http://127.0.0.1:${port}`)({
      method: 'POST',
      url: '/api/management/v1/deployments/artifacts',
      headers: { ...net.auth, 'content-type': contentType },
      body,
    });
    t.is(r.status, 400);
    t.regex(r.json<{ error: string }>().error, /invalid artifact/);
    t.is(readdirSync(join(net.dataDir, 'tmp')).length, 0);
    t.is((await net.app.flipside.store.listArtifacts()).length, 0);
  } finally {
    await net.close();
  }
});

test.serial('releases v2: paging headers, notes, tags, types, one release, description edit, delete', async (t) => {
  const V2R = '/api/management/v2/deployments/deployments/releases';
  for (const name of ['rel-a', 'rel-b', 'rel-c']) t.is((await uploadArtifact(s, await makeArtifact(name, ['qemux86-64']))).statusCode, 201);
  const page = await s.app.inject({ method: 'GET', url: `${V2R}?name=rel-&per_page=2&sort=name:asc`, headers: s.auth });
  t.is(page.headers['x-total-count'], '3');
  t.deepEqual(page.json<Array<{ name: string }>>().map((r) => r.name), ['rel-a', 'rel-b']);
  const next = String(page.headers.link).split(', ').find((l) => l.endsWith('rel="next"'))!;
  t.deepEqual([...new URL(next.slice(1, next.indexOf('>')), 'http://x').searchParams].sort(), [['name', 'rel-'], ['page', '2'], ['per_page', '2'], ['sort', 'name:asc']]);
  t.is((await s.app.inject({ method: 'PATCH', url: `${V2R}/rel-a`, headers: s.auth, payload: { notes: 'first cut' } })).statusCode, 204);
  t.is((await s.app.inject({ method: 'PUT', url: `${V2R}/rel-a/tags`, headers: s.auth, payload: ['Stable', 'lab', 'stable'] })).statusCode, 204);
  t.is((await s.app.inject({ method: 'PUT', url: `${V2R}/rel-a/tags`, headers: s.auth, payload: ['no spaces'] })).statusCode, 400);
  t.is((await s.app.inject({ method: 'PUT', url: `${V2R}/nothing/tags`, headers: s.auth, payload: ['x'] })).statusCode, 404);
  const one = (await s.app.inject({ method: 'GET', url: `${V2R}/rel-a`, headers: s.auth })).json<{ notes: string; tags: string[]; artifacts: Array<{ id: string }> }>();
  t.is(one.notes, 'first cut');
  t.deepEqual(one.tags, ['lab', 'stable']);
  t.deepEqual((await s.app.inject({ method: 'GET', url: '/api/management/v2/deployments/releases/all/tags', headers: s.auth })).json(), ['lab', 'stable']);
  t.true((await s.app.inject({ method: 'GET', url: '/api/management/v2/deployments/releases/all/types', headers: s.auth })).json<string[]>().includes('single-file'));
  t.deepEqual((await s.app.inject({ method: 'GET', url: `${V2R}?tag=stable`, headers: s.auth })).json<Array<{ name: string }>>().map((r) => r.name), ['rel-a']);
  const art = `/api/management/v1/deployments/artifacts/${one.artifacts[0]!.id}`;
  t.is((await s.app.inject({ method: 'PUT', url: art, headers: s.auth, payload: { description: 'edited' } })).statusCode, 204);
  t.is((await s.app.inject({ method: 'GET', url: art, headers: s.auth })).json<{ description: string }>().description, 'edited');
  t.is((await s.app.inject({ method: 'DELETE', url: `${V2R}?name=rel-b&name=rel-c`, headers: s.auth })).statusCode, 204);
  t.is((await s.app.inject({ method: 'GET', url: `${V2R}/rel-b`, headers: s.auth })).statusCode, 404);
  t.is((await s.app.inject({ method: 'GET', url: `${V2R}?name=rel-`, headers: s.auth })).headers['x-total-count'], '1');
});

test.serial('artifacts/generate makes a single-file artifact; directupload takes one through a signed link', async (t) => {
  const { body, contentType } = multipartBody(
    { name: 'gen-1', description: 'made here', device_types_compatible: 'qemux86-64', type: 'single_file', args: JSON.stringify({ dest_dir: '/etc/app' }) },
    { field: 'file', name: 'app.conf', content: Buffer.from('key=value\n') },
  );
  const gen = await s.app.inject({ method: 'POST', url: '/api/management/v1/deployments/artifacts/generate', headers: { ...s.auth, 'content-type': contentType }, payload: body });
  t.is(gen.statusCode, 201, gen.body);
  const art = (await s.app.inject({ method: 'GET', url: String(gen.headers.location).replace('/generate', ''), headers: s.auth })).json<{ name: string; description: string; updates: Array<{ type_info: { type: string }; files: Array<{ name: string }> }> }>();
  t.is(art.name, 'gen-1');
  t.is(art.description, 'made here');
  t.is(art.updates[0]!.type_info.type, 'single-file');
  t.deepEqual(art.updates[0]!.files.map((f) => f.name).sort(), ['app.conf', 'dest_dir', 'filename', 'permissions']);
  const relative = multipartBody({ name: 'gen-2', device_types_compatible: 'x', type: 'single_file', args: '{"dest_dir":"etc"}' }, { field: 'file', content: Buffer.from('x') });
  t.is((await s.app.inject({ method: 'POST', url: '/api/management/v1/deployments/artifacts/generate', headers: { ...s.auth, 'content-type': relative.contentType }, payload: relative.body })).statusCode, 400);

  const DU = '/api/management/v1/deployments/artifacts/directupload';
  const link = (await s.app.inject({ method: 'POST', url: DU, headers: s.auth })).json<{ id: string; uri: string; expire: string }>();
  const u = new URL(link.uri);
  const content = await makeArtifact('direct-1', ['qemux86-64']);
  t.is((await s.app.inject({ method: 'PUT', url: u.pathname + u.search.replace('x-men-signature=', 'x-men-signature=A'), payload: content, headers: { 'content-type': 'application/octet-stream' } })).statusCode, 403);
  t.is((await s.app.inject({ method: 'POST', url: `${DU}/${link.id}/complete`, headers: s.auth, payload: {} })).statusCode, 404);
  t.is((await s.app.inject({ method: 'PUT', url: u.pathname + u.search, payload: content, headers: { 'content-type': 'application/octet-stream' } })).statusCode, 200);
  t.is((await s.app.inject({ method: 'POST', url: `${DU}/${link.id}/complete`, headers: s.auth, payload: { size: content.length } })).statusCode, 202);
  t.is((await s.app.inject({ method: 'GET', url: '/api/management/v1/deployments/artifacts?name=direct-1', headers: s.auth })).json<unknown[]>().length, 1);
});
