// Replays every request a real Mender 3.5.3 client made (reference traffic) against this server,
// in order, with the recorded bodies and signatures byte for byte, and checks the same status
// codes and response shapes. Between requests it does what the recording implies an operator
// did: accept (or preauthorize) the device, upload an artifact, create a deployment.
import test from 'ava';
import { startTestServer, acceptDevice, makeArtifact, uploadArtifact, createDeployment, type TestServer } from './testing/fixtures.js';
import { loadTraffic } from '../test-support/mender-traffic.js';

const RECORDED_DEPLOYMENT = 'd0000000-0000-4000-8000-000000000001';
const V1_NEXT = '/api/devices/v1/deployments/device/deployments/next';
const V2_NEXT = '/api/devices/v2/deployments/device/deployments/next';


const load = loadTraffic;

/** The Go client's json.Encoder output: compact JSON plus a newline (Content-Length proves it). */
function goJson(body: unknown): Buffer {
  return Buffer.from(JSON.stringify(body) + '\n');
}

const cases: Array<{ file: string; artifactName: string; firstAuthPending: boolean }> = [
  { file: 'requests-deployment-success.jsonl', artifactName: 'sf-release-3', firstAuthPending: true },
  { file: 'requests-deployment-failure.jsonl', artifactName: 'sf-release-fail', firstAuthPending: false },
  { file: 'requests-rootfs-dualrootfs.jsonl', artifactName: 'rootfs-release-2', firstAuthPending: false },
];

for (const c of cases) {
  test(`replay ${c.file}`, async (t) => {
    const srv: TestServer = await startTestServer();
    try {
      const reqs = load(c.file);
      t.true(reqs.length > 10);
      const up = await uploadArtifact(srv, await makeArtifact(c.artifactName, ['fake-device']));
      t.is(up.statusCode, 201, up.body);
      const firstAuth = reqs.find((r) => r.path.endsWith('/auth_requests'))!.body as { id_data: string; pubkey: string };
      const identity = JSON.parse(firstAuth.id_data);
      if (!c.firstAuthPending) {
        // The recording starts with a 200: the device was known beforehand, i.e. preauthorized.
        const pre = await srv.app.inject({ method: 'POST', url: '/api/management/v2/devauth/devices', headers: srv.auth, payload: { identity_data: identity, pubkey: firstAuth.pubkey } });
        t.is(pre.statusCode, 201);
      }
      let token = '';
      let deploymentId = '';
      let downloadUri = '';
      let accepted = !c.firstAuthPending;
      for (const [i, r] of reqs.entries()) {
        const where = `#${i} ${r.method} ${r.path}`;
        if (r.path.endsWith('/auth_requests')) {
          if (r.response === 200 && !accepted) {
            await acceptDevice(srv, identity);
            accepted = true;
          }
          const res = await srv.app.inject({
            method: 'POST',
            url: r.path,
            headers: { 'content-type': r.headers['Content-Type']!, 'x-men-signature': r.headers['X-Men-Signature']!, authorization: 'Bearer' },
            payload: goJson(r.body),
          });
          t.is(res.statusCode, r.response, where);
          if (res.statusCode === 200) {
            t.regex(String(res.headers['content-type']), /^application\/jwt/, where);
            t.is(res.body.split('.').length, 3, where);
            token = res.body;
          } else {
            t.deepEqual(Object.keys(res.json()).sort(), ['error', 'request_id'], where);
          }
          continue;
        }
        // The recorded server had no v2 "next" (404, then the client asked v1). Ours serves v2, so
        // it answers there what v1 answered right after in the recording.
        let expected = r.response;
        if (r.path === V2_NEXT && r.response === 404) expected = reqs.slice(i + 1).find((x) => x.path === V1_NEXT)?.response ?? 204;
        if ((r.path === V1_NEXT || r.path === V2_NEXT) && expected === 200 && !deploymentId) {
          const device = (await srv.app.flipside.store.deviceByIdData(JSON.stringify(Object.fromEntries(Object.entries(identity).sort()))))!;
          deploymentId = await createDeployment(srv, { artifact_name: c.artifactName, devices: [device.id] });
        }
        if (r.path.startsWith('/download/')) {
          // The recorded server's link; ours comes from our "next" answer. No Authorization header.
          t.false('Authorization' in r.headers, where);
          const u = new URL(downloadUri);
          const res = await srv.app.inject({ method: 'GET', url: u.pathname + u.search });
          t.is(res.statusCode, r.response, where);
          t.is(res.headers['content-type'], 'application/vnd.mender-artifact', where);
          continue;
        }
        const url = r.path.replace(RECORDED_DEPLOYMENT, deploymentId);
        const headers: Record<string, string> = {};
        if (r.headers['Authorization']) headers.authorization = `Bearer ${token}`;
        if (r.headers['Content-Type']) headers['content-type'] = r.headers['Content-Type'];
        const res = await srv.app.inject({ method: r.method as 'PUT', url, headers, payload: r.body === null ? undefined : goJson(r.body) });
        t.is(res.statusCode, expected, `${where}: ${res.body}`);
        if (res.statusCode === 204) t.is(res.body, '', where);
        if (r.path.endsWith('/deployments/next') && res.statusCode === 200) {
          const body = res.json<{ id: string; artifact: { artifact_name: string; source: { uri: string; expire: string }; device_types_compatible: string[] } }>();
          t.deepEqual(Object.keys(body).sort(), ['artifact', 'id'], where);
          t.is(body.id, deploymentId);
          t.is(body.artifact.artifact_name, c.artifactName);
          t.deepEqual(body.artifact.device_types_compatible, ['fake-device']);
          t.false(Number.isNaN(Date.parse(body.artifact.source.expire)));
          downloadUri = body.artifact.source.uri;
        }
      }
      t.truthy(deploymentId, 'the recording implied a deployment');
      // The server's view matches what the device reported last.
      const finalStatus = [...reqs].reverse().find((r) => r.path.endsWith('/status'))!.body as { status: string };
      const dev = await srv.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${deploymentId}/devices`, headers: srv.auth });
      t.is(dev.json<Array<{ status: string }>>()[0]!.status, finalStatus.status);
      const dep = await srv.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${deploymentId}`, headers: srv.auth });
      t.is(dep.json<{ status: string }>().status, 'finished');
      if (reqs.some((r) => r.path.endsWith('/log'))) {
        const device = dev.json<Array<{ id: string; log: boolean }>>()[0]!;
        t.true(device.log);
        const log = await srv.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${deploymentId}/devices/${device.id}/log`, headers: srv.auth });
        t.regex(log.body, /Running Mender client version: 3\.5\.3/);
      }
    } finally {
      await srv.close();
    }
  });
}
